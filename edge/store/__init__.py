"""The stores: in-memory, Redis with its Lua write script, and the write-behind."""
