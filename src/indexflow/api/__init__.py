"""indexflow.api"""
