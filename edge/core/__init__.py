"""The pure decision core: no web framework, no store client, no faiss, no files."""
