"""vodkit's shared library: settings, events and the bus, storage and metadata ports."""
