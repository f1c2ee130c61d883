// WebSocket API handlers (payload: API Gateway's WebSocket proxy events).

/** $connect: joins the room named in the query string (?room=...), default "lobby". */
export const connect = async (event) => ({ statusCode: 200, subscribe: [event.queryStringParameters?.room ?? 'lobby'] });

/** {"action":"send","room":"lobby","text":"hi"}: a broadcast to everyone in the room. */
export const send = async (event) => {
  const { room = 'lobby', text = '' } = JSON.parse(event.body);
  return { statusCode: 200, publish: { topic: room, data: JSON.stringify({ from: event.requestContext.connectionId, text }) } };
};
