"""Connector plugins (``plugins/cxpipe-*``) tested inside cxpipe, against local servers."""
