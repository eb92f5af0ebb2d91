"""The cascade gateway (seed 001): a white-label platform that tries Viber, VK and SMS in
the order the client chooses. A client for its JSON, GET and XML interfaces, its states
and error texts, and the provider adapter that sends campaigns message by message."""
