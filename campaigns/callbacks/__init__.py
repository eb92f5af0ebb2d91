"""What the providers push (issue 11): SMSC's handler calls (seed 004) and Mobizon's
webhook (PROVIDERS.md), read and verified into ``Event`` values. Nothing here touches the
database; campaigns.services.callbacks stores and applies the events."""
