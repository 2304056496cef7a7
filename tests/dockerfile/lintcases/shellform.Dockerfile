FROM python:3.12-slim
MAINTAINER someone@example.com
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
CMD python app.py
CMD python other.py
ENTRYPOINT /entry.sh
ENTRYPOINT ["/entry.sh"]
