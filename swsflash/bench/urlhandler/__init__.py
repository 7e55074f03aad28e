"""pyserial URL handlers of the bench (pyserial looks for ``protocol_<scheme>`` modules)."""
