"""Subscriptions through time: the state machine, renewals, trials, cancel, pause, switch
with proration, and dunning. billgate owns this engine; payment rails only move money."""
