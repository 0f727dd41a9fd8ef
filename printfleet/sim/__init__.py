"""``printfleet sim``: simulated OctoPrint printers (REST + OctoPrint-MQTT layout) for demos and tests."""
