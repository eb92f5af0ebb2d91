"""Provider clients and the narrow interface (port) the pipeline calls."""
