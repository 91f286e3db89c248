"""Normalisation, pseudonymisation and probabilistic linkage over keyed features."""
