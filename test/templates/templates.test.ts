import t from 'tap';
import {
  base64Decode,
  base64Encode,
  compileJsonPath,
  compileTemplate,
  compileTemplates,
  escapeJavaScript,
  evaluateJsonPath,
  JsonPathError,
  MISSING,
  requestMediaType,
  selectRequestTemplate,
  TemplatePayloadError,
  TemplateRenderError,
  TemplateSyntaxError,
  urlDecode,
  urlEncode,
  type CompiledTemplate,
  type PassthroughBehavior,
  type TemplateInput,
} from '../../src/templates/index.js';

function input(body = '', over: Partial<TemplateInput> = {}): TemplateInput {
  return {
    body,
    params: { path: {}, querystring: {}, header: {} },
    context: {},
    stageVariables: {},
    ...over,
  };
}

function render(src: string, body = '', over: Partial<TemplateInput> = {}): string {
  return compileTemplate(src, 'test').render(input(body, over));
}

// PetStore data of the AWS "data transformation" tutorial
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-data-transformations-in-api-gateway.html).
const PETS = '[{"id":1,"type":"dog","price":249.99},{"id":2,"type":"cat","price":124.99},{"id":3,"type":"fish","price":0.99}]';

t.test('AWS documentation fixtures', async (t) => {
  t.test('tutorial: GET /pets integration response template, documented output', async (t) => {
    const tpl = compileTemplate(
      `#set($inputRoot = $input.path('$'))
[
#foreach($elem in $inputRoot)
  {
    "description" : "Item $elem.id is a $elem.type.",
    "askingPrice" : $elem.price
  }#if($foreach.hasNext),#end

#end
]`,
      'GET /pets 200 application/json',
    );
    t.equal(
      tpl.renderResponse(input(PETS)),
      `[
  {
    "description" : "Item 1 is a dog.",
    "askingPrice" : 249.99
  },
  {
    "description" : "Item 2 is a cat.",
    "askingPrice" : 124.99
  },
  {
    "description" : "Item 3 is a fish.",
    "askingPrice" : 0.99
  }
]`,
    );
  });

  t.test('tutorial: POST /pets request template to DynamoDB PutItem ($input.json with a double-quoted path)', async (t) => {
    const out = render(
      '{"TableName":"data-transformation-tutorial-complete","Item":{"id":{"N":$input.json("$.id")},"type":{"S":$input.json("$.type")},"price":{"N":$input.json("$.price")} }}',
      '{\n          "id": "4",\n          "type" : "dog",\n          "price": "321"\n}',
    );
    t.equal(out, '{"TableName":"data-transformation-tutorial-complete","Item":{"id":{"N":"4"},"type":{"S":"dog"},"price":{"N":"321"} }}');
    t.same(JSON.parse(out), { TableName: 'data-transformation-tutorial-complete', Item: { id: { N: '4' }, type: { S: 'dog' }, price: { N: '321' } } });
  });

  t.test('tutorial: response template with $context.requestTime', async (t) => {
    const out = render('{ "message" : "Your response was recorded at $context.requestTime" }', '', {
      context: { requestTime: '20/Mar/2024:15:00:00 +0000' },
    });
    t.equal(out, '{ "message" : "Your response was recorded at 20/Mar/2024:15:00:00 +0000" }');
  });

  t.test('reference: $context variable template example', async (t) => {
    const src = `{
    "stage" : "$context.stage",
    "request_id" : "$context.requestId",
    "api_id" : "$context.apiId",
    "resource_path" : "$context.resourcePath",
    "resource_id" : "$context.resourceId",
    "http_method" : "$context.httpMethod",
    "source_ip" : "$context.identity.sourceIp",
    "user-agent" : "$context.identity.userAgent",
    "account_id" : "$context.identity.accountId",
    "api_key" : "$context.identity.apiKey",
    "caller" : "$context.identity.caller",
    "user" : "$context.identity.user",
    "user_arn" : "$context.identity.userArn"
}`;
    const context = {
      stage: 'prod',
      requestId: 'abcdefg-000-000-0000-abcdefg',
      apiId: 'abcd1234',
      resourcePath: '/',
      resourceId: 'efg567',
      httpMethod: 'GET',
      identity: {
        sourceIp: '192.0.2.1',
        userAgent: 'curl/7.84.0',
        accountId: '111122223333',
        apiKey: 'MyTestKey',
        caller: 'ABCD-0000-12345',
        user: 'ABCD-0000-12345',
        userArn: 'arn:aws:sts::111122223333:assumed-role/Admin/carlos-salazar',
      },
    };
    t.same(JSON.parse(render(src, '', { context })), {
      stage: 'prod',
      request_id: 'abcdefg-000-000-0000-abcdefg',
      api_id: 'abcd1234',
      resource_path: '/',
      resource_id: 'efg567',
      http_method: 'GET',
      source_ip: '192.0.2.1',
      'user-agent': 'curl/7.84.0',
      account_id: '111122223333',
      api_key: 'MyTestKey',
      caller: 'ABCD-0000-12345',
      user: 'ABCD-0000-12345',
      user_arn: 'arn:aws:sts::111122223333:assumed-role/Admin/carlos-salazar',
    });
    t.same(JSON.parse(render(src, '', { context: { stage: 'prod' } })).api_key, '', 'a missing $context value renders empty');
  });

  t.test('reference: parameter mapping template (all params via $input.params())', async (t) => {
    const src = `#set($allParams = $input.params())
{
  "params" : {
    #foreach($type in $allParams.keySet())
    #set($params = $allParams.get($type))
    "$type" : {
      #foreach($paramName in $params.keySet())
      "$paramName" : "$util.escapeJavaScript($params.get($paramName))"
      #if($foreach.hasNext),#end
      #end
    }
    #if($foreach.hasNext),#end
    #end
  }
}`;
    const params = { path: { petId: '7' }, querystring: { q: 'a "b"', page: '2' }, header: { accept: '*/*', 'user-agent': 'curl/8' } };
    t.same(JSON.parse(render(src, '', { params })), {
      params: {
        path: { petId: '7' },
        querystring: { q: 'a "b"', page: '2' },
        header: { accept: '*/*', 'user-agent': 'curl/8' },
      },
    });
    // The documented gotcha: escapeJavaScript turns ' into \', which is not valid JSON.
    const quoted = render(src, '', { params: { path: {}, querystring: { q: "it's" }, header: {} } });
    t.match(quoted, /"q" : "it\\'s"/);
    t.throws(() => JSON.parse(quoted), SyntaxError);
  });

  t.test('reference: "name" from the query string and the whole body', async (t) => {
    const src = '{\n    "name" : "$input.params(\'name\')",\n    "body" : $input.json(\'$\') \n}';
    const out = render(src, '{"mykey": {"a": [1, 2]}, "n": null}', { params: { path: {}, querystring: { name: 'me' }, header: {} } });
    t.equal(out, '{\n    "name" : "me",\n    "body" : {"mykey":{"a":[1,2]},"n":null} \n}');
    const sub = render('{\n    "name" : "$input.params(\'name\')",\n    "body" : $input.json(\'$.mykey\')  \n}', '{"mykey": {"a": [1, 2]}}');
    t.equal(sub, '{\n    "name" : "",\n    "body" : {"a":[1,2]}  \n}');
  });

  t.test('reference: /things/{id} example ($input.params, $input.path(...).size(), $util.escapeJavaScript($input.json(...)))', async (t) => {
    const src = `{
    "id" : "$input.params('id')",
    "count" : "$input.path('$.things').size()",
    "things" : $util.escapeJavaScript($input.json('$.things'))
}`;
    const out = render(src, '{\n    "things" : {\n        "1" : {},\n        "2" : {},\n        "3" : {}\n    }\n}', {
      params: { path: { id: 'abc' }, querystring: {}, header: {} },
    });
    // The documented response shows "things" unescaped; escapeJavaScript does escape the quotes (see its own test).
    t.equal(out, '{\n    "id" : "abc",\n    "count" : "3",\n    "things" : {\\"1\\":{},\\"2\\":{},\\"3\\":{}}\n}');
  });

  t.test('reference: $util.parseJson example', async (t) => {
    const body = JSON.stringify({ errorMessage: '{"key1":"var1","key2":{"arr":[1,2,3]}}' });
    const src = `#set ($errorMessageObj = $util.parseJson($input.path('$.errorMessage')))
{
   "errorMessageObjKey2ArrVal" : $errorMessageObj.key2.arr[0]
}
`;
    t.equal(render(src, body), '{\n   "errorMessageObjKey2ArrVal" : 1\n}\n');
  });

  t.test("reference: $util.escapeJavaScript(data).replaceAll(\"\\\\'\",\"'\") turns \\' back into '", async (t) => {
    const src = '{"v": "$util.escapeJavaScript($input.path(\'$.s\')).replaceAll("\\\\\'","\'")"}';
    const out = render(src, JSON.stringify({ s: `it's "quoted" \\ / é\n` }));
    t.same(JSON.parse(out), { v: `it's "quoted" \\ / é\n` });
  });

  t.test('console "Method Request passthrough" template: valid JSON with everything', async (t) => {
    const src = `##  See http://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
##  This template will pass through all parameters including path, querystring, header, stage variables, and context through to the integration endpoint via the body/payload
#set($allParams = $input.params())
{
"body-json" : $input.json('$'),
"params" : {
#foreach($type in $allParams.keySet())
    #set($params = $allParams.get($type))
"$type" : {
    #foreach($paramName in $params.keySet())
    "$paramName" : "$util.escapeJavaScript($params.get($paramName))"
        #if($foreach.hasNext),#end
    #end
}
    #if($foreach.hasNext),#end
#end
},
"stage-variables" : {
#foreach($key in $stageVariables.keySet())
"$key" : "$util.escapeJavaScript($stageVariables.get($key))"
    #if($foreach.hasNext),#end
#end
},
"context" : {
    "account-id" : "$context.identity.accountId",
    "api-id" : "$context.apiId",
    "http-method" : "$context.httpMethod",
    "stage" : "$context.stage",
    "source-ip" : "$context.identity.sourceIp",
    "user-agent" : "$context.identity.userAgent",
    "request-id" : "$context.requestId",
    "resource-path" : "$context.resourcePath"
    }
}`;
    const out = render(src, '{"a":[1,2]}', {
      params: { path: { id: '1' }, querystring: {}, header: { 'content-type': 'application/json', host: 'x.example' } },
      stageVariables: { env: 'dev', url: 'http://u' },
      context: { apiId: 'api', httpMethod: 'POST', stage: 'dev', requestId: 'r', resourcePath: '/things/{id}', identity: { sourceIp: '10.0.0.1', userAgent: 'ua' } },
    });
    t.same(JSON.parse(out), {
      'body-json': { a: [1, 2] },
      params: { path: { id: '1' }, querystring: {}, header: { 'content-type': 'application/json', host: 'x.example' } },
      'stage-variables': { env: 'dev', url: 'http://u' },
      context: {
        'account-id': '',
        'api-id': 'api',
        'http-method': 'POST',
        stage: 'dev',
        'source-ip': '10.0.0.1',
        'user-agent': 'ua',
        'request-id': 'r',
        'resource-path': '/things/{id}',
      },
    });
  });
});

t.test('$input', async (t) => {
  t.test('$input.body: raw text; an empty payload is {}', async (t) => {
    t.equal(render('$input.body', '{ "a" : 1 }'), '{ "a" : 1 }');
    t.equal(render('$input.body', 'a=b&c=d'), 'a=b&c=d');
    t.equal(render('$input.body', ''), '{}');
  });

  t.test('$input.json(x): JSON text of the JSONPath result', async (t) => {
    const body = '{"a":{"b":[1,2,{"c":"x"}]},"s":"q\\"uote","n":null,"t":true,"f":1.5}';
    t.equal(render("$input.json('$')", body), '{"a":{"b":[1,2,{"c":"x"}]},"s":"q\\"uote","n":null,"t":true,"f":1.5}');
    t.equal(render("$input.json('$.a.b')", body), '[1,2,{"c":"x"}]');
    t.equal(render("$input.json('$.a.b[2].c')", body), '"x"');
    t.equal(render("$input.json('$.s')", body), '"q\\"uote"');
    t.equal(render("$input.json('$.n') $input.json('$.t') $input.json('$.f')", body), 'null true 1.5');
    t.equal(render("$input.json('$.missing')", body), '""', 'a definite path that does not resolve');
    t.equal(render("$input.json('$..c')", body), '["x"]', 'indefinite path: a list');
    t.equal(render("$input.json('$..zzz')", body), '[]');
    t.equal(render('$input.json()', body), render("$input.json('$')", body), 'no argument is $');
    t.equal(render("$input.json('$')", ''), '{}', 'empty payload');
  });

  t.test('$input.path(x): a value usable in VTL', async (t) => {
    t.equal(render("$input.path('$').size()", '{"a":1,"b":2}'), '2');
    t.equal(render("$input.path('$.items').size()", '{"items":[1,2,3]}'), '3');
    t.equal(render("#foreach($item in $input.path('$.items'))[$item.name]#end", '{"items":[{"name":"x"},{"name":"y"}]}'), '[x][y]');
    t.equal(render("$input.path('$.a').b.c", '{"a":{"b":{"c":"deep"}}}'), 'deep');
    t.equal(render("$input.path('$.s').length()", '{"s":"hello"}'), '5');
    t.equal(render("[$input.path('$.missing')][$input.path('$.n')]", '{"n":null}'), '[][]', 'missing and null print empty');
    t.equal(render("#if($input.path('$.flag'))yes#{else}no#end", '{"flag":true}'), 'yes');
    t.equal(render("#set($n = $input.path('$.n') + 1)$n", '{"n":41}'), '42');
  });

  t.test('$input.path prints Java-style: maps {k=v}, JSON arrays as JSON', async (t) => {
    const body = '{"a":1,"b":[{"c":5}],"m":{"x":"y","z":null},"s":"str"}';
    t.equal(render("$input.path('$')", body), '{a=1, b=[{"c":5}], m={x=y, z=null}, s=str}');
    t.equal(render("$input.path('$.b')", body), '[{"c":5}]');
    t.equal(render("$input.path('$').m", body), '{x=y, z=null}');
  });

  t.test('$input.params(): path, querystring, header maps', async (t) => {
    const params = { path: { id: 'p1', dup: 'from-path' }, querystring: { q: 'x', dup: 'from-query' }, header: { 'x-token': 't', dup: 'from-header' } };
    const over = { params };
    t.equal(render('#foreach($k in $input.params().keySet())$k #end', '', over), 'path querystring header ');
    t.equal(render("$input.params().path.get('id') $input.params().querystring.q $input.params().header.get('x-token')", '', over), 'p1 x t');
    t.equal(render("$input.params().querystring.size() $input.params().header.keySet()", '', over), '2 [x-token, dup]');
  });

  t.test('$input.params(x): path, then query string, then header; "" when absent', async (t) => {
    const over = { params: { path: { a: 'path-a' }, querystring: { a: 'qs-a', b: 'qs-b' }, header: { a: 'h-a', b: 'h-b', c: 'h-c' } } };
    t.equal(render("$input.params('a') $input.params('b') $input.params('c') [$input.params('d')]", '', over), 'path-a qs-b h-c []');
    t.equal(render("#if($input.params('d').length() == 0)empty#end", '', over), 'empty');
  });

  t.test('header names match in any case (the gateway lower-cases them)', async (t) => {
    const over = { params: { path: {}, querystring: {}, header: { 'content-type': 'application/json', authorization: 'Bearer x' } } };
    t.equal(render("$input.params('Authorization')", '', over), 'Bearer x');
    t.equal(render("$input.params().header.get('Content-Type')", '', over), 'application/json');
    t.equal(render('$input.params().header.Authorization', '', over), 'Bearer x');
    t.equal(render("$input.params().header.containsKey('AUTHORIZATION')", '', over), 'true');
  });

  t.test('a non-JSON payload is one string (form-urlencoded templates)', async (t) => {
    t.equal(render("$input.path('$')", 'a=b&c=d'), 'a=b&c=d');
    t.equal(render("$input.json('$')", 'a=b&c=d'), '"a=b&c=d"');
    t.equal(render("{\"name\": \"$input.path('$')\"}", 'name=toqoz'), '{"name": "name=toqoz"}');
    t.equal(render("[$input.path('$.a')] $input.json('$.a')", 'a=b'), '[] ""');
    t.equal(render("$input.path('$')", 'a{b'), 'a{b');
    t.equal(render("$input.path('$')", 'null{'), 'null{');
    t.equal(render("$input.path('$') $input.json('$')", '"a=b"'), 'a=b "a=b"', 'a JSON string payload');
    t.equal(render("$input.path('$') $input.json('$')", '42'), '42 42', 'a JSON number payload');
    const form = `#foreach($kv in $input.path('$').split('&'))#set($p = $kv.split('='))"$util.urlDecode($p[0])":"$util.urlDecode($p.get(1))"#if($foreach.hasNext),#end#end`;
    t.equal(render(`{${form}}`, 'name=J%C3%BCrgen+M&x=1'), '{"name":"Jürgen M","x":"1"}');
  });

  t.test('a payload that looks like JSON but is not: 400 for a request template, 500 for a response template', async (t) => {
    const tpl = compileTemplate("$input.path('$')", 'bad');
    for (const body of ['{a', '[a', '"unterminated', '{"a":1,}']) {
      const err = t.throws(() => tpl.render(input(body))) as unknown;
      t.ok(err instanceof TemplatePayloadError, body);
      const e = err as TemplatePayloadError;
      t.equal(e.status, 400);
      t.match(JSON.parse(e.body), { message: /^Could not process payload/ });
      t.throws(() => tpl.renderResponse(input(body)), TemplateRenderError);
    }
    t.equal(compileTemplate('$input.body', 'raw').render(input('{a')), '{a', 'not read as JSON: no error');
  });

  t.test('the payload is parsed lazily and at most once per render', async (t) => {
    const realParse = JSON.parse;
    let calls = 0;
    JSON.parse = ((text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown) => {
      calls++;
      return realParse(text, reviver);
    }) as typeof JSON.parse;
    try {
      const tpl = compileTemplate("$input.json('$.a') $input.path('$.b') $input.json('$') $input.path('$').size() $input.json('$.a')", 'lazy');
      t.equal(tpl.render(input('{"a":1,"b":2}')), '1 2 {"a":1,"b":2} 2 1');
      t.equal(calls, 1, 'one parse for five reads');
      calls = 0;
      compileTemplate('$input.body $context.stage', 'no-json').render(input('{"a":1}'));
      t.equal(calls, 0, 'no read, no parse');
    } finally {
      JSON.parse = realParse;
    }
  });
});

t.test('$util', async (t) => {
  t.test('escapeJavaScript: Commons Lang escapeJavaScript, incl. the \\\' gotcha', async (t) => {
    t.equal(escapeJavaScript(`He didn't say, "Stop!"`), `He didn\\'t say, \\"Stop!\\"`);
    t.equal(escapeJavaScript('a\\b/c'), 'a\\\\b\\/c');
    t.equal(escapeJavaScript('\b\t\n\f\r'), '\\b\\t\\n\\f\\r');
    t.equal(escapeJavaScript('\u0000\u0001\u001f'), '\\u0000\\u0001\\u001F');
    t.equal(escapeJavaScript('é€😀'), '\\u00E9\\u20AC\\uD83D\\uDE00');
    t.equal(escapeJavaScript('plain text 123 <>&'), 'plain text 123 <>&');
    t.equal(render('$util.escapeJavaScript($input.path(\'$.s\'))', '{"s":"it\'s"}'), "it\\'s");
    t.equal(render("[$util.escapeJavaScript($input.path('$.none'))]", '{}'), '[]', 'null in, null out');
  });

  t.test('urlEncode / urlDecode: Java URLEncoder / URLDecoder (space is +)', async (t) => {
    t.equal(urlEncode('a b'), 'a+b');
    t.equal(urlEncode("az AZ09.-*_~!'()"), 'az+AZ09.-*_%7E%21%27%28%29');
    t.equal(urlEncode('x=a+b&c/d?é'), 'x%3Da%2Bb%26c%2Fd%3F%C3%A9');
    t.equal(urlDecode('a+b%20c%2Bd%C3%A9'), 'a b c+dé');
    t.equal(urlDecode('no-escapes'), 'no-escapes');
    t.throws(() => urlDecode('%zz'), /Illegal hex/);
    t.equal(render("$util.urlEncode('a b&c') $util.urlDecode('a+b%26c')"), 'a+b%26c a b&c');
    t.throws(() => render("$util.urlDecode('%G1')"), TemplateRenderError);
  });

  t.test('base64Encode / base64Decode (UTF-8)', async (t) => {
    t.equal(base64Encode('héllo wörld'), 'aMOpbGxvIHfDtnJsZA==');
    t.equal(base64Decode('aMOpbGxvIHfDtnJsZA=='), 'héllo wörld');
    t.equal(render("$util.base64Encode($input.body)", '{"a":1}'), 'eyJhIjoxfQ==');
    t.equal(render("$util.base64Decode('eyJhIjoxfQ==')"), '{"a":1}');
  });

  t.test('parseJson: an object usable in VTL', async (t) => {
    t.equal(render(`#set($o = $util.parseJson('{"a":[1,2,3],"b":{"c":"d"}}'))$o.a.size() $o.b.c $o.a[1] $o.b.get('c')`), '3 d 2 d');
    t.equal(render(`$util.parseJson('[1,2]').get(1)`), '2');
    t.throws(() => render(`$util.parseJson('{nope')`), TemplateRenderError);
  });

  t.test('an unknown $util function yields null, not an error', async (t) => {
    t.equal(render("[$util.hmac('x')][$util.escapeJavaScript()]"), '[][]');
  });
});

t.test('$context and $stageVariables', async (t) => {
  const over = {
    context: { stage: 'prod', authorizer: { principalId: 'u1', claims: { sub: 's' } }, requestTimeEpoch: 1700000000000 },
    stageVariables: { env: 'dev', 'with space': 'ws' },
  };
  t.equal(render('$context.stage $context.authorizer.principalId $context.authorizer.claims.sub $context.requestTimeEpoch', '', over), 'prod u1 s 1700000000000');
  t.equal(render("$stageVariables.env $stageVariables['env'] ${stageVariables['with space']}", '', over), 'dev dev ws');
  t.equal(render('[$context.nope][$context.authorizer.claims.nope][$stageVariables.nope]', '', over), '[][][]');

  t.test('requestOverride / responseOverride are returned, the caller context is untouched', async (t) => {
    const tpl = compileTemplate(
      `#set($context.requestOverride.header.x-extra = "1")#set($context.requestOverride.querystring.q = $input.params('id'))#set($context.responseOverride.status = 202)#set($context.responseOverride.header.X-Id = "$context.requestId")done`,
      'overrides',
    );
    const context = { requestId: 'r-9' };
    const res = tpl.renderWithOverrides(input('', { context, params: { path: { id: '7' }, querystring: {}, header: {} } }));
    t.equal(res.body, 'done');
    t.same(res.overrides, {
      requestOverride: { header: { 'x-extra': '1' }, path: {}, querystring: { q: '7' } },
      responseOverride: { header: { 'X-Id': 'r-9' }, status: 202 },
    });
    t.same(context, { requestId: 'r-9' });
    t.equal(compileTemplate('plain', 'p').renderWithOverrides(input()).overrides, undefined);
  });
});

t.test('Velocity semantics on velocityjs', async (t) => {
  t.test('#set, #if / #elseif / #else, quiet and formal references', async (t) => {
    t.equal(render('#set($a = 2)#if($a == 1)one#elseif($a == 2)two#{else}other#end'), 'two');
    t.equal(render('#set($s = "x")#set($t = "${s}-$s")$t ${t}y'), 'x-x x-xy');
    t.equal(render('#set($s = "x")$s-$s'), 'x', 'as in Velocity, `-` is part of an identifier: $s- is unresolved');
    t.equal(render('[$!nope][$nope][${nope}][$!{nope}]'), '[][][][]', 'unresolved references print empty, as in AWS');
    t.equal(render('#set($m = {"k": "v"})$m.k $m.get("k") $m'), 'v v {k=v}');
    t.equal(render('## a comment\n#* block *#x'), 'x');
    t.equal(render('#macro(greet $who)Hello $who!#end#greet("World")'), 'Hello World!');
  });

  t.test('#foreach: $foreach.hasNext/index/count/first/last, $velocityCount', async (t) => {
    t.equal(render('#foreach($i in ["a","b","c"])$i#if($foreach.hasNext),#end#end'), 'a,b,c');
    t.equal(
      render('#foreach($i in ["a","b","c"])$foreach.index/$foreach.count/$velocityCount/$foreach.first/$foreach.last #end'),
      '0/1/1/true/false 1/2/2/false/false 2/3/3/false/true ',
    );
    t.equal(render("#foreach($v in $input.path('$'))$v;#end", '{"x":1,"y":2}'), '1;2;', 'a map iterates its values');
    t.equal(render('#foreach($i in [1..5])#if($i == 3)#break#end$i#end'), '12', '#break stops at once');
    t.equal(render("#foreach($v in $input.path('$'))#break#end[$v]after", '{"x":1}'), '[]after', 'no scope or #break leak past #end');
    t.equal(render('#foreach($i in [3..1])$i#end'), '321');
    t.equal(render('#foreach($i in $input.path(\'$.none\'))x#end.', '{}'), '.');
    t.equal(render('#set($s = "abc")#foreach($i in $input)x#end#foreach($i in $s)x#end.', '{}'), '.', 'only lists and maps iterate');
  });

  t.test('Java methods on strings', async (t) => {
    const body = JSON.stringify({ s: 'Hello, World' });
    const r = (expr: string): string => render(`#set($s = $input.path('$.s'))${expr}`, body);
    t.equal(r('$s.length() $s.isEmpty() $s.contains("World") $s.indexOf("o") $s.lastIndexOf("o")'), '12 false true 4 8');
    t.equal(r('$s.toUpperCase() $s.toLowerCase() $s.substring(7) $s.substring(0, 5) $s.charAt(1)'), 'HELLO, WORLD hello, world World Hello e');
    t.equal(r('$s.startsWith("Hell") $s.endsWith("d") $s.equals("Hello, World") $s.equalsIgnoreCase("hello, world")'), 'true true true true');
    t.equal(r('$s.replace("l", "L") $s.replaceAll("[aeiou]", "_") $s.replaceFirst("l+", "L")'), 'HeLLo, WorLd H_ll_, W_rld HeLo, World');
    t.equal(r('$s.replaceAll("(\\w+), (\\w+)", "$2 $1")'), 'World Hello');
    t.equal(r('$s.matches("H.*d") $s.matches("ello")'), 'true false');
    t.equal(r('$s.split(", ") $s.split(", ").size() $s.split(",")[1].trim()'), '[Hello, World] 2 World');
    t.equal(render("$input.path('$').split(',')", '"a,b,,c,,"'), '[a, b, , c]', 'Java split drops trailing empty strings');
    t.equal(render("$input.path('$').split('\\|', 2)", '"a|b|c"'), '[a, b|c]');
    t.equal(r('$s.nonexistentMethod()|'), '|');
  });

  t.test('Java methods on lists and maps', async (t) => {
    const body = '{"list":[3,1,2],"map":{"size":"big","k":"v"},"empty":{}}';
    const r = (expr: string): string => render(`#set($l = $input.path('$.list'))#set($m = $input.path('$.map'))${expr}`, body);
    t.equal(r('$l.size() $l.get(0) $l[1] $l.contains(2) $l.isEmpty() $l.indexOf(2)'), '3 3 1 true false 2');
    t.equal(r('$m.size() $m.get("size") $m.size $m.keySet() $m.values() $m.containsKey("k") $m.isEmpty()'), '2 big big [size, k] [big, v] true false');
    t.equal(r('#foreach($e in $m.entrySet())$e.key=$e.value,$e.getKey()=$e.getValue();#end'), 'size=big,size=big;k=v,k=v;');
    t.equal(render("$input.path('$.empty').isEmpty() $input.path('$.empty').size()", body), 'true 0');
    t.equal(r('#set($ignored = $l.add(4))$l.size() $l'), '4 [3,1,2,4]', 'a JSON array stays a JSON array');
    t.equal(r('#set($ignored = $m.put("n", 1))$m.n $m.size()'), '1 3');
    t.equal(render('#set($l = [1, "two", {"a": 3}])$l $l.size() $l.get(1).length()'), '[1, two, {a=3}] 3 3', 'a VTL list literal is a Java List');
    t.equal(render('$input.params().querystring.toString()', '', { params: { path: {}, querystring: { a: 'b', c: 'd' }, header: {} } }), '{a=b, c=d}');
  });

  t.test('the same compiled template renders independent requests', async (t) => {
    const tpl = compileTemplate(
      "#set($x = $input.path('$.v'))#foreach($i in $input.path('$.l'))$i#end|$x|#if($x == 'stop')#stop()#end tail",
      'iso',
    );
    t.equal(tpl.render(input('{"v":"stop","l":[1,2]}')), '12|stop|');
    t.equal(tpl.render(input('{"v":"go","l":[3]}')), '3|go| tail', '#stop of the previous render does not leak');
    t.equal(tpl.render(input('{"l":[]}')), '|| tail', '#set of the previous render does not leak');
  });

  t.test('templates cannot mutate the caller parameters', async (t) => {
    const params = { path: { id: '1' }, querystring: {}, header: { h: 'v' } };
    t.equal(render("#set($ignored = $input.params().header.put('h', 'changed'))$input.params().header.h", '', { params }), 'changed');
    t.same(params, { path: { id: '1' }, querystring: {}, header: { h: 'v' } });
  });

  t.test('range literals are capped', async (t) => {
    t.throws(() => render("#foreach($i in [1..$input.path('$.n')])#end", '{"n":100000000}'), TemplateRenderError);
  });
});

t.test('syntax errors are reported with the template name, line and column', async (t) => {
  const cases: [string, number, number, RegExp][] = [
    ['#if(', 1, 4, /Expecting/],
    ['line one\n  #set($x = )', 2, 13, /Expecting/],
    ['ok\n$input.json(\'$\'', 2, 16, /Expecting 'CLOSE_PARENTHESIS'.*got the end of the template/],
    ['#set($a = "unterminated)', 1, 11, /unrecognized text/],
    ['a\n#if($x) b', 2, 1, /#if has no matching #end/],
    ['a\n#foreach($i in $l)\n #if($i) #end\n', 2, 1, /#foreach has no matching #end/],
    ['a\n#end\nb', 2, 1, /#end without a matching/],
    ['#if($a) x #end #end y', 1, 16, /#end without a matching/],
    ['x #else y', 1, 3, /#else outside #if/],
    ['#if($a)x#else y#else z#end', 1, 16, /#else after #else/],
    ["\n\n  $input.json('$[?(@.price < 10)]')", 3, 3, /filter and script expressions are not supported/],
    ["$input.path('$.items.length()')", 1, 1, /functions are not supported/],
  ];
  for (const [src, line, column, reason] of cases) {
    const err = t.throws(() => compileTemplate(src, 'POST /pets application/json'), TemplateSyntaxError, JSON.stringify(src)) as unknown as TemplateSyntaxError;
    t.equal(err.templateName, 'POST /pets application/json');
    t.equal(err.line, line, `line of ${JSON.stringify(src)}`);
    t.equal(err.column, column, `column of ${JSON.stringify(src)}`);
    t.match(err.message, reason);
    t.match(err.message, /^mapping template "POST \/pets application\/json" line \d+/);
  }
  t.doesNotThrow(() => compileTemplate('$input.json("$.id") $input.path("$[\'a b\'][0]") $input.json($dynamic)', 'ok'));
});

t.test('JSONPath', async (t) => {
  const doc = {
    store: {
      book: [
        { category: 'reference', author: 'Nigel Rees', title: 'Sayings', price: 8.95 },
        { category: 'fiction', author: 'Evelyn Waugh', title: 'Sword', price: 12.99 },
        { category: 'fiction', author: 'Herman Melville', title: 'Moby Dick', isbn: '0-553-21311-3', price: 8.99 },
      ],
      bicycle: { color: 'red', price: 19.95 },
      'odd key': { 'a.b': 1 },
    },
  };
  const ev = (p: string): unknown => evaluateJsonPath(compileJsonPath(p), doc);
  t.equal(ev('$'), doc);
  t.equal(ev('$.store.bicycle.color'), 'red');
  t.equal(ev("$['store']['bicycle']['color']"), 'red');
  t.equal(ev('$["store"].bicycle["price"]'), 19.95);
  t.equal(ev("$.store['odd key']['a.b']"), 1);
  t.equal(ev('$.store.book[0].title'), 'Sayings');
  t.equal(ev('$.store.book[-1].title'), 'Moby Dick');
  t.equal(ev('store.bicycle.color'), 'red', 'a path without $ is read as $.path (Jayway)');
  t.same(ev('$.store.book[*].author'), ['Nigel Rees', 'Evelyn Waugh', 'Herman Melville']);
  t.same(ev('$.store.book.*.price'), [8.95, 12.99, 8.99]);
  t.same(ev('$..author'), ['Nigel Rees', 'Evelyn Waugh', 'Herman Melville']);
  t.same(ev('$..price'), [8.95, 12.99, 8.99, 19.95]);
  t.same(ev('$.store..isbn'), ['0-553-21311-3']);
  t.same(ev('$..book[1].title'), ['Sword']);
  t.same(ev('$.store.book[0,2].title'), ['Sayings', 'Moby Dick']);
  t.same(ev('$.store.book[:2].price'), [8.95, 12.99]);
  t.same(ev('$.store.book[1:].price'), [12.99, 8.99]);
  t.same(ev('$.store.book[-2:].price'), [12.99, 8.99]);
  t.same(ev('$.store.book[::2].price'), [8.95, 8.99]);
  t.same(ev("$.store.bicycle['color','price']"), ['red', 19.95]);
  t.same(ev('$.store.bicycle.*'), ['red', 19.95]);
  t.equal(ev('$.store.nothing'), MISSING);
  t.equal(ev('$.store.book[9]'), MISSING);
  t.equal(ev('$.store.bicycle.color.x'), MISSING);
  t.same(ev('$..nothing'), []);
  t.equal(compileJsonPath('$.a.b').definite, true);
  t.equal(compileJsonPath('$.a[*]').definite, false);
  for (const bad of ['$.', '$[', "$['a", '$[?(@.a)]', '$.a.length()', '$x', '$[1:2:0]']) {
    t.throws(() => compileJsonPath(bad), JsonPathError, bad);
  }
});

t.test('passthroughBehavior: request template selection', async (t) => {
  const json = compileTemplate('{"json":true}', 'json');
  const xml = compileTemplate('<xml/>', 'xml');
  const behaviors: PassthroughBehavior[] = ['WHEN_NO_MATCH', 'WHEN_NO_TEMPLATES', 'NEVER'];
  const withJson = { 'application/json': json };
  const none: Record<string, CompiledTemplate> = {};
  const expected: Record<PassthroughBehavior, { match: string; noMatch: string; noTemplates: string }> = {
    WHEN_NO_MATCH: { match: 'template', noMatch: 'passthrough', noTemplates: 'passthrough' },
    WHEN_NO_TEMPLATES: { match: 'template', noMatch: 'reject', noTemplates: 'passthrough' },
    NEVER: { match: 'template', noMatch: 'reject', noTemplates: 'reject' },
  };
  for (const b of behaviors) {
    const match = selectRequestTemplate(withJson, 'application/json', b);
    t.equal(match.kind, expected[b].match, `${b}: match`);
    if (match.kind === 'template') t.equal(match.template, json);
    const noMatch = selectRequestTemplate(withJson, 'application/xml', b);
    t.equal(noMatch.kind, expected[b].noMatch, `${b}: no match`);
    const noTemplates = selectRequestTemplate(none, 'application/json', b);
    t.equal(noTemplates.kind, expected[b].noTemplates, `${b}: no templates`);
    for (const sel of [noMatch, noTemplates]) {
      if (sel.kind === 'reject') {
        t.equal(sel.status, 415);
        t.same(JSON.parse(sel.body), { message: 'Unsupported Media Type' });
      }
    }
  }

  // AWS example 2: a template for application/xml only.
  const xmlOnly = { 'application/xml': xml };
  t.equal(selectRequestTemplate(xmlOnly, undefined, 'WHEN_NO_MATCH').kind, 'passthrough', 'no Content-Type is application/json: no match');
  t.equal(selectRequestTemplate(xmlOnly, undefined, 'WHEN_NO_TEMPLATES').kind, 'reject');
  t.equal(selectRequestTemplate(xmlOnly, 'application/xml', 'NEVER').kind, 'template');

  // Content-Type matching: no header -> application/json; case and parameters ignored.
  for (const ct of [undefined, null, '', 'application/json', 'Application/JSON', 'application/json; charset=UTF-8', ' application/json ;charset=utf-8']) {
    const sel = selectRequestTemplate(withJson, ct, 'NEVER');
    t.equal(sel.kind, 'template', `Content-Type ${JSON.stringify(ct)}`);
  }
  t.equal(selectRequestTemplate({ 'Application/JSON; charset=utf-8': json }, 'application/json', 'NEVER').kind, 'template', 'template keys are normalised too');
  t.equal(selectRequestTemplate(withJson, 'application/json-patch+json', 'NEVER').kind, 'reject', 'no prefix or wildcard matching');
  t.equal(requestMediaType('text/plain;charset=utf-8'), 'text/plain');

  const compiled = compileTemplates({ 'Application/JSON': '{"a":$input.json(\'$.a\')}', 'application/x-www-form-urlencoded': "$input.path('$')" }, 'POST /things');
  t.same(Object.keys(compiled), ['application/json', 'application/x-www-form-urlencoded']);
  const sel = selectRequestTemplate(compiled, 'application/json; charset=utf-8', 'WHEN_NO_TEMPLATES');
  t.equal(sel.kind === 'template' ? sel.template.render(input('{"a":[1]}')) : sel.kind, '{"a":[1]}');
  t.throws(() => compileTemplates({ 'application/json': '#if(' }, 'POST /bad'), /mapping template "POST \/bad application\/json"/);
});

t.test('interpolated strings are parsed at compile time', async (t) => {
  const tpl = compileTemplate('#set($who = "$input.params(\'name\') from $context.stage")$who|$input.json("$.a")', 'strings');
  t.equal(tpl.render(input('{"a":1}', { context: { stage: 'prod' }, params: { path: {}, querystring: { name: 'me' }, header: {} } })), 'me from prod|1');
  t.equal(tpl.render(input('{"a":2}', { context: { stage: 'dev' }, params: { path: {}, querystring: { name: 'you' }, header: {} } })), 'you from dev|2');
  t.throws(() => compileTemplate('#set($x = "#if(")', 'bad-string'), TemplateSyntaxError);
});
