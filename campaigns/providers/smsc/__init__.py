"""SMSC (smsc.kz, smsc.ru): a client for send.php, status.php, get.php and balance.php,
its error codes, and the provider adapter that sends campaigns message by message."""
