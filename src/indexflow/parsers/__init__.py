"""indexflow.parsers"""
