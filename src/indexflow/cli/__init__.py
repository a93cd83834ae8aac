"""indexflow.cli"""
