"""Printer drivers: one small interface, one frozen PrinterState per protocol."""
