// /api/docs: Swagger UI on the platform's own OpenAPI document (vendor/swagger-ui, served locally).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  window.SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "none",
    defaultModelsExpandDepth: 0,
  });
});
