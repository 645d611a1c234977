"""The compute market's pallets: ComputeProviders, ComputeJobs and FederatedLearning (pure)."""
