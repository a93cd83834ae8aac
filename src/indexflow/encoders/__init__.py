"""indexflow.encoders"""
