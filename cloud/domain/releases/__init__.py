"""Signed model releases (spec §5.9): published by operators, rolled out by user cohort, served to
devices. The cloud never signs: releases are signed offline (``ecs models sign``)."""
