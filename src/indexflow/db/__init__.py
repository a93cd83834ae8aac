"""indexflow.db"""
