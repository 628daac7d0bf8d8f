"""Teachers over messaging: class commands, broadcasts, class-paced teaching, digests."""
