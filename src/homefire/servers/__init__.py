"""Working with servers as a whole: connecting to one from a spec, discovering them,
diagnosing them, and launching or serving a model as one."""
