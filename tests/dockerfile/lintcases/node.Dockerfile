FROM node:20-alpine as Build
ARG API_TOKEN
ENV DB_PASSWORD=changeme NODE_ENV=production
WORKDIR /app
COPY . .
RUN npm ci
RUN npm run build -- --out $OUT_DIR

FROM nginx:1.27-alpine AS final
COPY --from=build /app/dist /usr/share/nginx/html
