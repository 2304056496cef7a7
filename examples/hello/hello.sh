#!/bin/sh
echo "$GREETING from a wharfie-built image"
cat /app/built.txt
