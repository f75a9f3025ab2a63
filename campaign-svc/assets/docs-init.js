// Points the vendored Swagger UI at this service's document. No validator badge: it would
// send the document to an outside service.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/api/marketing/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
};
