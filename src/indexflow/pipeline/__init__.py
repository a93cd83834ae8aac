"""indexflow.pipeline"""
