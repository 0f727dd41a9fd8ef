"""printfleet: a self-hosted fleet manager and job queue for makerspace 3D printers."""

__version__ = "0.1.0"
