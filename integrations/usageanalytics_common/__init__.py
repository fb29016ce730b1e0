"""What the framework integrations share: safe class patching and the web page logic.

Kept apart from the core (which names no framework) and from any one integration, so Flask and
Django read pages, exclusions, visitors and identities the same way. Imports no framework.
"""
