"""Offline side of Edge: datasets in, versioned artifacts out, and their evaluation."""
