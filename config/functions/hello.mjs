// An API Gateway Lambda handler (payload format 2.0), served by `npm start` on GET /hello/{name}.
export async function handler(event, context) {
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: `hello ${event.pathParameters.name}`, requestId: context.awsRequestId }),
  };
}
