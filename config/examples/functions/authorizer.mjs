// A Lambda REQUEST authorizer (payload 2.0, simple responses), as in the AWS documentation:
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html
export const handler = async (event) => {
  const key = event.headers['x-partner-key'];
  // Replace with a real lookup (a database, an introspection endpoint): the answer is cached by
  // the identity source values for resultTtlSeconds.
  const partner = key === 'demo-partner-key' ? 'demo' : null;
  return { isAuthorized: partner !== null, context: { partner } };
};
