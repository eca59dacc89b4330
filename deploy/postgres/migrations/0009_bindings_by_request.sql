-- Customs asks for a binding by the request id it sent (GET /bindings/{request_id}).
CREATE INDEX bindings_by_request ON bindings (request_id);
