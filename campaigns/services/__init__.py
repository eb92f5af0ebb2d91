"""Services: the verbs of the pipeline. Each takes its dependencies as arguments (a unit of
work factory, a provider, the settings) and returns the next steps to schedule (``Next``)."""
