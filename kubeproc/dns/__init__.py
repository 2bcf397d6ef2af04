"""Cluster DNS: record table (records), pure responder (resolver), UDP/TCP server (server)."""
