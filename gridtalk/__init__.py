"""The gridtalk command line and the process supervisor behind `gridtalk run`."""
