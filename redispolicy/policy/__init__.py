"""WHAT WE WANT: strict YAML load -> schema -> resolve (extends, ${VAR}, provenance) -> Policy.

This package is the only one that imports yaml and jsonschema.
"""
