// $connect of the fan-out bench's WebSocket API (bench/fanout.ts): subscribes the connection to the
// topic named by ?topic= (default "room1"), the gateway's counterpart of socket.io's join(room).
export const handler = async (event) => ({ statusCode: 200, subscribe: [event.queryStringParameters?.topic ?? 'room1'] });
