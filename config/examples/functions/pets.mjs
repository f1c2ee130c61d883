// An API Gateway Lambda handler (payload format 2.0), run unchanged by the gateway's function threads.
export async function list(event) {
  const limit = Number(event.queryStringParameters?.limit ?? 10);
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pets: [], limit, requestId: event.requestContext.requestId }) };
}

export async function create(event) {
  const pet = JSON.parse(event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString() : event.body);
  return { statusCode: 201, cookies: [`last-pet=${encodeURIComponent(pet.name)}; Path=/`], body: JSON.stringify({ created: pet.name }) };
}
