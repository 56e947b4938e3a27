"""Test doubles and builders shared by the test tiers (never imported by the product)."""
