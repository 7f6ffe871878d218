'use strict';

// Artillery processor for artillery.yml: fills in, for every request, the variables the
// scenario's body and x-api-key header are templated from. Configuration comes from the
// environment, read once when Artillery loads this file (each Artillery worker loads its own).
//
//   CAMPANILE_API_KEY       the key printed by `manage.py createapikey` (required)
//   CAMPANILE_FROM          the sender, on a domain verified in SES   (demo@campanile.test)
//   CAMPANILE_TO            the recipient, labelled per request        (success@simulator.amazonses.com)
//   CAMPANILE_TEMPLATE      the template's name in Campanile           (SimpleEmail)
//   CAMPANILE_CONFIG_SET    an SES configuration set                   (empty: the server's default)
//   CAMPANILE_CAMPAIGN      the value of the `campaign` SES tag        (run1)
//   CAMPANILE_USER_ID_MAX   when set, user_id is a random 1..N, as in the AWS sample; contacts
//                           with those external ids must exist, or the API answers 404

const crypto = require('crypto');

const settings = {
  apiKey: process.env.CAMPANILE_API_KEY || '',
  // The demo's verified sender (`manage.py demo`), so a run against a demo server works as is.
  from: process.env.CAMPANILE_FROM || 'demo@campanile.test',
  to: process.env.CAMPANILE_TO || 'success@simulator.amazonses.com',
  templateName: process.env.CAMPANILE_TEMPLATE || 'SimpleEmail',
  configSet: process.env.CAMPANILE_CONFIG_SET || '',
  campaign: process.env.CAMPANILE_CAMPAIGN || 'run1',
  userIdMax: parseInt(process.env.CAMPANILE_USER_ID_MAX || '0', 10) || 0,
};

// Base-36 time plus 48 random bits: short enough for an address label, and unique across
// Artillery's workers, which share no counter.
function uniqueCode() {
  return Date.now().toString(36) + crypto.randomBytes(6).toString('hex');
}

// success@simulator.amazonses.com -> success+<code>@simulator.amazonses.com: the SES mailbox
// simulator ignores the label, and each message can be told apart in SES events and in Campanile.
function labelled(address, code) {
  const at = address.lastIndexOf('@');
  if (at < 1) {
    return address;
  }
  return `${address.slice(0, at)}+${code}${address.slice(at)}`;
}

// beforeRequest hook: Artillery templates the request's json and headers after its hooks run,
// so the variables set here are what this very request sends.
function campanileMessage(requestParams, context, ee, next) {
  if (!settings.apiKey) {
    return next(new Error('CAMPANILE_API_KEY is not set: create a key with `manage.py createapikey`.'));
  }
  const code = uniqueCode();
  Object.assign(context.vars, {
    apiKey: settings.apiKey,
    from: settings.from,
    to: labelled(settings.to, code),
    template_name: settings.templateName,
    config_set: settings.configSet,
    tags: [{ Name: 'campaign', Value: settings.campaign }],
    unique_code: code,
  });
  if (settings.userIdMax > 0) {
    context.vars.user_id = String(crypto.randomInt(1, settings.userIdMax + 1));
    // requestParams.json is the scenario's own object, shared by every virtual user: add the
    // field to a copy, never to it.
    requestParams.json = { ...requestParams.json, user_id: '{{ user_id }}' };
  }
  return next();
}

// The error code of a Campanile error body, {"error": {"code": ...}}; a body that is not one
// (a proxy's page, Django's HTML 404 for an unknown path) is named by what it is.
function errorCode(body) {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch (notJson) {
      return body ? 'not a JSON body' : 'empty body';
    }
  }
  const code = parsed && parsed.error && parsed.error.code;
  return typeof code === 'string' && code ? code : 'no error code';
}

// afterResponse hook: Artillery counts any answer as a completed virtual user, so a server that
// refuses every request (404, 401, 429) would look like a clean run. An error here fails the
// virtual user instead; Artillery counts it as errors.<message>, so the message holds only the
// status and code (no per-request values), and the scenario's ensure check then fails the run.
function campanileAnswer(requestParams, response, context, ee, next) {
  const status = response.statusCode;
  if (status >= 200 && status < 300) {
    return next();
  }
  return next(new Error(`Campanile answered ${status} ${errorCode(response.body)}`));
}

module.exports = { campanileMessage, campanileAnswer, errorCode, uniqueCode, labelled };
