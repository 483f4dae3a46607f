"""Running trainings: the results store, the executor seam (in-process or Dask), process settings."""
