"""The torch.export frontend (see trtgraph.export_frontend)."""
