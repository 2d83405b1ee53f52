"""Model and config loading: artifacts, the faiss index and the files a deployment reads."""
