"""Status ingest: MQTT (OctoPrint-MQTT layout) and REST polling into the StateStore."""
