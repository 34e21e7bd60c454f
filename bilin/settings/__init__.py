"""What commands take: the schema machinery (a key's default, help and range, written once) and the
option blocks several commands share."""
