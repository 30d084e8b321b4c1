"""Diagnostic-text phrases per reason: what remote servers say when they mean each reason.

One table per reason, in the manner of Sisimai's lib/sisimai/reason/*.pm (the reference
taxonomy). Entries are lower-case substrings; ``_re`` entries are regular expressions for
phrases with variable parts. Matching is done on the lower-cased, whitespace-squeezed
diagnostic text.
"""

from __future__ import annotations

import re
from itertools import pairwise

from bouncer.analysis.taxonomy import Reason

R = Reason


def _re(pattern: str) -> str:
    return "\x00" + pattern  # marks a regular expression among plain phrases


PHRASES: dict[Reason, tuple[str, ...]] = {
    R.USERUNKNOWN: (
        "#5.1.1 bad address",
        "550 address invalid",
        "5.1.0 address rejected",
        "address does not exist",
        "address not present in directory",
        "address unknown",
        "can't accept user",
        "does not exist.",
        "destination addresses were unknown",
        "destination server rejected recipients",
        "email address does not exist",
        "email address could not be found",
        "invalid address",
        "invalid mailbox",
        "invalid recipient",
        "is not a known user",
        "is not a valid mailbox",
        "is not an active address at this host",
        "mailbox does not exist",
        "mailbox invalid",
        "mailbox is inactive",
        "mailbox is unavailable",
        "mailbox not present",
        "mailbox not found",
        "mailbox unavailable",
        "nessun utente simile in questo indirizzo",
        "no account by that name here",
        "no existe dicha persona",
        "no existe ese usuario",
        "no mail box available for this user",
        "no mailbox by that name is currently available",
        "no mailbox found",
        "no such address here",
        "no such mailbox",
        "no such person at this address",
        "no such recipient",
        "no such user",
        "no valid recipients",
        "not a valid recipient",
        "not a valid user here",
        "not a local address",
        "recipient address rejected: access denied",
        "recipient address rejected.",
        "recipient address rejected: invalid user",
        "recipient address rejected: invalid-recipient",
        "recipient address rejected: unknown user",
        "recipient address rejected: user unknown",
        "recipient address rejected: userunknown",
        "recipient does not exist",
        "recipient is not accepted",
        "recipient is not local",
        "recipient not exist",
        "recipient not found",
        "recipient not ok",
        "recipient unknown",
        "requested action not taken: mailbox unavailable",
        "resolver.adr.recipnotfound",
        "resolver.adr.recipientnotfound",
        "sorry, user unknown",
        "sorry, badrcptto",
        "sorry, no mailbox here by that name",
        "sorry, your envelope recipient has been denied",
        "the email account that you tried to reach does not exist",
        "the following recipients was undeliverable",
        "the user's email name is not found",
        "there is no one at this address",
        "this address no longer accepts mail",
        "this email address is wrong or no longer valid",
        "this recipient is in my badrecipientto list",
        "this recipient is not in my validrcptto list",
        "unknown mailbox",
        "unknown recipient",
        "unknown user",
        "user does not exist",
        "user missing home directory",
        "user not active",
        "user not exist",
        "user not found",
        "user not known",
        "user unknown",
        "utilisateur inconnu",
        "usuario desconocido",
        "el usuario no existe",
        "destinatario desconocido",
        "la dirección no existe",
        "la direccion no existe",
        "no existe el buzón",
        "el buzón no existe",
        "usuari desconegut",
        "adresse inconnue",
        "destinataire inconnu",
        "adresse introuvable",
        "benutzer unbekannt",
        "empfänger unbekannt",
        "unbekannter empfänger",
        "postfach nicht vorhanden",
        "utente sconosciuto",
        "utente inesistente",
        "indirizzo inesistente",
        "usuário desconhecido",
        "utilizador desconhecido",
        "destinatário desconhecido",
        "vdeliver: invalid or unknown virtual user",
        "your envelope recipient is in my badrcptto list",
        "no such local user",
        "unknown local part",
        "address rejected: unknown",
        "recipient rejected: unknown",
        "mailbox unavailable",
        "does not have an account here",
        "no mailbox here by that name",
        "account does not exist",
        "bad destination mailbox address",
        "doesn't have a yahoo.com account",
        "invalid recipient address",
        "account is unavailable",
        _re(r"<[^>]+> not found"),
        _re(r"account .{1,80} does not exist at the organization"),
        _re(r"mailbox .{0,80}does not exist"),
        _re(r"\bno .{1,60} in name directory"),
        _re(r"non-?existent user"),
        _re(r"rcpt <.{1,200} does not exist"),
        _re(r"recipient .{1,200} was not found in"),
        _re(r"user .{1,200} (?:was not found|does not exist)"),
        _re(r"user \(.{1,200}\) unknown"),
        _re(r"unknown e-?mail address"),
        _re(r"this user doesn't have a .{1,40} account"),
        # r"\bbad.{0,10}recipient", with the word boundary checked after the literal: a pattern
        # that opens with an assertion is tried at every position of the text (10x slower)
        _re(r"bad(?<!\wbad).{0,10}recipient"),
    ),
    R.MAILBOXFULL: (
        "account disabled temporarly for exceeding receiving limits",
        "account is exceeding their quota",
        "account is over quota",
        "account is temporarily over quota",
        "boite du destinataire pleine",
        "buzón lleno",
        "buzón está lleno",
        "bustia plena",
        "cuota excedida",
        "boîte aux lettres pleine",
        "boite aux lettres pleine",
        "quota dépassé",
        "postfach voll",
        "postfach ist voll",
        "speicherplatz überschritten",
        "casella piena",
        "casella di posta piena",
        "caixa de correio cheia",
        "caixa postal cheia",
        "delivery failed: over quota",
        "disc quota exceeded",
        "disk quota exceeded",
        "does not have enough space",
        "exceeded storage allocation",
        "exceeding its mailbox quota",
        "full mailbox",
        "is over disk quota",
        "is over quota temporarily",
        "mail file size exceeds the maximum size allowed for mail delivery",
        "mail quota exceeded",
        "mailbox exceeded the local limit",
        "mailbox full",
        "mailbox is full",
        "mailbox has exceeded its disk space limit",
        "mailbox over quota",
        "mailbox quota usage exceeded",
        "mailbox size limit exceeded",
        "maildir over quota",
        "maildir delivery failed: userdisk quota",
        "maildir delivery failed: domaindisk quota",
        "mailfolder is full",
        "not enough storage space in",
        "over the allowed quota",
        "quota exceeded",
        "quota violation for",
        "recipient reached disk quota",
        "recipient rejected: mailbox would exceed maximum allowed storage",
        "the recipient mailbox has exceeded its disk space limit",
        "the user's space has been used up",
        "the user you are trying to reach is over quota",
        "too much mail data",
        "user has exceeded quota",
        "user has too many messages on the server",
        "user is over quota",
        "user is over the quota",
        "user over quota",
        "was automatically rejected: quota exceeded",
        "would be over the allowed quota",
        "mailbox is over quota",
        "over quota",
        "mailbox has exceeded",
        "exceeded its quota",
        "inbox is full",
        "mailbox would exceed",
    ),
    R.MESGTOOBIG: (
        "exceeded maximum inbound message size",
        "line limit exceeded",
        "max message size exceeded",
        "message file too big",
        "message length exceeds administrative limit",
        "message size exceeds fixed limit",
        "message size exceeds fixed maximum message size",
        "message size exceeds maximum value",
        "message too big",
        "message too large",
        "size limit",
        "taille limite du message atteinte",
        "message is too large",
        "message exceeds maximum size",
        "size exceeds",
        "message size exceeds",
        "message is too big",
        "exceeds the maximum message size",
    ),
    R.EXCEEDLIMIT: (
        "message header size exceeds limit",
        "recipsizelimit",
        "message too many recipients",
        "exceeded the limit",
        "exceeds the maximum number of recipients",
    ),
    R.SUSPEND: (
        "invalid/inactive user",
        "email account that you tried to reach is disabled",
        "is a deactivated mailbox",
        "mailbox currently suspended",
        "mailbox unavailable or access denied",
        "user suspended",
        "recipient suspend the service",
        "temporary locked",
        "account is locked",
        "this account has been disabled or discontinued",
        "vdelivermail: account is locked email bounced",
        "account has been disabled",
        "account is disabled",
        "account disabled",
        "has been suspended",
        "mailbox is disabled",
        "account is inactive",
        "account is locked",
        "inactive account",
        "is disabled",
        "mailbox disabled",
        "account has been suspended",
        "is currently suspended",
        "account deactivated",
        "mailbox has been suspended",
        _re(r"sorry your message to .{1,200} cannot be delivered\. this account"),
    ),
    R.HASMOVED: (" has been replaced by ", "is no longer valid, forwarding address", "recipient has moved"),
    R.NORELAYING: (
        "as a relay",
        "insecure mail relay",
        "is not permitted to relay through this server without authentication",
        "mail server requires authentication when attempting to send to a non-local e-mail address",
        "not a gateway",
        "not allowed to relay through this machine",
        "not an open relay, so get lost",
        "not local host",
        "relay access denied",
        "relay denied",
        "relay not permitted",
        "relaying denied",
        "relaying mail to ",
        "specified domain is not allowed",
        "that domain isn't in my list of allowed rcpthost",
        "this system is not configured to relay mail",
        "unable to relay",
        "we don't handle mail for",
        "relaying not allowed",
        "relay prohibited",
        "relay not allowed",
        # Amazon SES: the relay refuses a sender identity not verified with it
        "message rejected: email address is not verified",
        "identities failed the check in region",
    ),
    R.AUTHFAILURE: (
        "//spf.pobox.com",
        "bad spf records for",
        "dmarc policy",
        "please inspect your spf settings",
        "sender policy framework (spf) fail",
        "sender policy framework violation",
        "spf (sender policy framework) domain authentication fail",
        "spf check: fail",
        "spf validation failed",
        "dkim signature",
        "failed an spf check",
        "spf fail",
        "spf softfail",
        "spf: fail",
        "dmarc check",
        "dmarc validation",
        "failed dmarc",
        "unauthenticated email from",
        "dkim authentication",
        "does not have authentication information",
        "fails to pass authentication checks",
        "authentication checks failed",
        "is not authorized by domain",
        "spf verification failed",
        _re(r"is not allowed to send from <.{1,200} per it'?s spf record"),
        _re(r"spf.{0,30}(?:hard)?fail"),
    ),
    R.BADREPUTATION: (
        "a poor email reputation score",
        "has been temporarily rate limited due to ip reputation",
        "ip/domain reputation problems",
        "likely suspicious due to the very low reputation",
        "none/bad reputation",
        "temporarily deferred due to unexpected volume or user complaints",
        "the sending mta's poor reputation",
        "poor reputation",
        "sender reputation",
        "low reputation",
    ),
    R.FILTERED: (
        "because the recipient is only accepting mail from specific email addresses",
        "bounced address",
        "due to extended inactivity new mail is not currently being accepted for this mailbox",
        "has restricted sms e-mail",
        "is not accepting any mail",
        "refused due to recipient preferences",
        "resolver.rst.notauthorized",
        "this account is protected by",
        "user reject",
        "we failed to deliver mail because the following address recipient id refuse to receive mail",
        "you have been blocked by the recipient",
        "recipient is not accepting mail from",
    ),
    R.REJECTED: (
        "<> invalid sender",
        "access denied (in reply to mail from command)",
        "address rejected",
        "administrative prohibition",
        "batv failed to verify",
        "batv validation failure",
        "backscatter protection detected an invalid or expired email address",
        "bogus mail from",
        "connections not accepted from servers without a valid sender domain",
        "denied [bouncedeny]",
        "delivery not authorized, message refused",
        "does not exist e2110",
        "domain of sender address ",
        "emetteur invalide",
        "empty envelope senders not allowed",
        "envelope blocked",
        "error: no third-party dsns",
        "from: domain is invalid. please provide a valid from:",
        "fully qualified email address required",
        "invalid domain, see <url:",
        "is not a registered gateway user",
        "mail from not owned by user",
        "mx records for ",
        "null sender is not allowed",
        "recipient addresses rejected : access denied",
        "recipient not accepted. (batv: no tag",
        "returned mail not accepted here",
        "rfc 1035 violation: recursive cname records for",
        "rule imposed mailbox access for",
        "sender email address rejected",
        "sender is spammer",
        "sender not pre-approved",
        "sender rejected",
        "sender domain is empty",
        "sender verify failed",
        "syntax error: empty email address",
        "the message has been rejected by batv defense",
        "transaction failed unsigned dsn for",
        "unroutable sender address",
        "you are sending to/from an address that has been blacklisted",
        "sender address rejected",
        "domain of sender address",
        "sender domain must exist",
        "sender address is not",
        "invalid sender",
        "sender verification failed",
        "sender unknown",
        "no such sender",
        "sender is not allowed",
        "sender not allowed",
        "sender denied",
        "bad sender",
    ),
    R.HOSTUNKNOWN: (
        "domain does not exist",
        "el dominio no existe",
        "dominio inexistente",
        "domaine inexistant",
        "domain existiert nicht",
        "dominio inesistente",
        "domínio inexistente",
        "domain is not reachable",
        "domain must exist",
        "host or domain name not found",
        "host unknown",
        "host unreachable",
        "mail domain mentioned in email address is unknown",
        "name or service not known",
        "no such domain",
        "no such domain.",
        "recipient address rejected: unknown domain name",
        "recipient domain must exist",
        "the account or domain may not exist",
        "unknown host",
        "unrouteable address",
        _re(r"(?<![@\w.-])[a-z0-9-]+(?:\.[a-z0-9-]+)+ does not exist"),
        "domain not found",
        "unknown domain",
        "domain name not found",
        "no mx record",
        "not a valid domain",
        "domain is invalid",
        "unrouteable mail domain",
        "dns records for the destination computer could not be found",
    ),
    R.SPAMDETECTED: (
        "the mail server detected your message as spam and has prevented delivery",
        "appears to be unsolicited",
        "blacklisted url in message",
        "block for spam",
        "blocked by policy: no spam please",
        "blocked by spamassassin",
        "blocked for abuse. see http://att.net/blocks",
        "bulk email",
        "content filter rejection",
        "denied due to spam list",
        "greylisted",
        "http://www.spamhaus.org",
        "http://dsbl.org",
        "listed in work.drbl.imedia.ru",
        "mail appears to be unsolicited",
        "mail content denied",
        "may consider spam",
        "message content rejected",
        "message filtered",
        "message looks like spam",
        "message refused by mailmarshal spamprofiler",
        "message rejected as spam",
        "message rejected because of unacceptable content",
        "message rejected due to suspected spam content",
        "message rejected for policy reasons",
        "our email server thinks this email is spam",
        "our system has detected that this message is",
        "probable spam",
        "reject bulk.advertising",
        "rejected: spamassassin score ",
        "rejected due to spam content",
        "rejecting banned content",
        "related to content with spam-like characteristics",
        "sending address not accepted due to spam filter",
        "spam blocked",
        "spam check",
        "spam content matched",
        "spam detected",
        "spam email",
        "spam not accepted",
        "spam refused",
        "spam rejection",
        "spam reporting address",
        "spam score ",
        "spam message rejected",
        "spambouncer identified spam",
        "spamming not allowed",
        "too much spam.",
        "the message has been rejected by spam filtering engine",
        "the message was rejected due to classification as bulk mail",
        "the content of this message looked like spam",
        "this e-mail cannot be forwarded because it was detected as spam",
        "this mail is classified as spam and is rejected",
        "this message appears to be spam",
        "this message has been identified as spam",
        "this message has been scored as spam with a probability",
        "this message was classified as spam",
        "this message was rejected by recurrent pattern detection system",
        "transaction failed spam message not queued",
        "we dont accept spam",
        "you're using a mass mailer",
        "your email appears similar to spam we have received before",
        "your email breaches local uribl policy",
        "your email had spam-like ",
        "your email is considered spam",
        "your email is probably spam",
        "your email was detected as spam",
        "your message as spam and has prevented delivery",
        "your message has been temporarily blocked by our filter",
        "your message has been rejected because it appears to be spam",
        "your message has triggered a spam block",
        "your message may contain the spam contents",
        "your message failed several antispam checks",
        "identified as spam",
        "classified as spam",
        "considered spam",
        "detected as spam",
        "rejected as spam",
        "message is spam",
        "looks like spam",
        "spam-like",
        _re(r"(?:\d\.\d\.\d|\d{3}) spam$"),
        _re(r"reject,.{1,200} - spam\. "),
        _re(r"rejected by .{1,100} \(spam\)"),
        _re(r"spam .{1,100} exceeded"),
        _re(r"our filters rate at and above .{1,40} percent probability of being spam"),
        _re(r"this message scored .{1,40} spam points"),
        _re(r"dt:spm mx.{1,200}mail\.163\.com/help/help_spam_16\.htm"),
    ),
    R.SPEEDING: (
        "mail sent from your ip address has been temporarily rate limited",
        "please try again slower",
        "receiving mail at a rate that prevents additional messages from being delivered",
        "sending too fast",
        "too many messages",
        "exceeded the rate limit",
        "temporarily rate limited",
        "rate limited",
    ),
    R.TOOMANYCONN: (
        "all available ips are at maximum connection limit",
        "connection rate limit exceeded",
        "exceeds per-domain connection limit for",
        "has exceeded the max emails per hour ",
        "throttling failure: daily message quota exceeded",
        "throttling failure: maximum sending rate exceeded",
        "too many connections",
        "connection frequency limited",
        "too many recipients",
        "too many concurrent smtp connections",
        "too many errors from your ip",
        "too many smtp sessions for this host",
        "trop de connexions, ",
        "we have already made numerous attempts to deliver this message",
        "too many simultaneous connections",
    ),
    R.BLOCKED: (
        "access denied. ip name lookup failed",
        "blocked - see https://support.proofpoint.com/dnsbl-lookup.cgi",
        "cannot resolve your address",
        "client host rejected: may not be mail exchanger",
        "client host rejected: was not authenticated",
        "confirm this mail server",
        "connection dropped",
        "connection refused by",
        "connection reset by peer",
        "connection was dropped by remote host",
        "go away",
        "hosts with dynamic ip",
        "ip/domain reputation problems",
        "is not allowed to send mail from",
        "no access from mail server",
        "not currently accepting mail from your ip",
        "please use the smtp server of your isp",
        "rejecting open proxy",
        "sorry, that domain isn't in my list of allowed rcpthosts",
        "sorry, your remotehost looks suspiciously like spammer",
        "spf record",
        "your network is temporary blacklisted",
        "your server requires confirmation",
        "we do not accept mail from dynamic ips",
        "http://www.spamcop.net/bl.",
        "blocked using ",
        "listed at ",
        "is listed on",
        "is blacklisted",
        "is blocked",
        "blocklist",
        "blacklisted by",
        "rejected because your ip",
        "client host rejected",
        "your ip address is listed",
        "refused to talk to me",
        "invalid ip for sending mail",
        "esmtp not accepting connections",
        "access denied for ip",
        "not accepting mail from your ip",
        "banned sending ip",
        "your access to this mail system has been rejected",
        "ip address block",
        "has been blocked",
        "host blocked",
        "ip blocked",
        "sender ip address rejected",
        "ip address has been blacklisted",
        "rejected by dnsbl",
        "dnsbl",
        _re(r"\brbl\b"),
        _re(r"access from ip address .{1,60} blocked"),
        _re(r"mail server at .{1,100} is blocked"),
        _re(r"messages from .{1,100} temporarily deferred due to user complaints"),
        _re(r"the (?:email|domain|ip).{1,100} is blacklisted"),
        _re(r"ip \d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3} is blocked by earthlink"),
    ),
    R.REQUIREPTR: (
        "access denied. ip name lookup failed",
        "all mail servers must have a ptr record with a valid reverse dns entry",
        "bad dns ptr resource record",
        "cannot find your hostname",
        "fix reverse dns for ",
        "ips with missing ptr records",
        "no ptr record found.",
        "please get a custom reverse dns name from your isp for your host",
        "ptr record setup",
        "reverse dns failed",
        "reverse dns required",
        "sender ip reverse lookup rejected",
        "the ip address sending this message does not have a ptr record setup",
        "the corresponding forward dns entry does not point to the sending ip",
        "this system will not accept messages from servers/devices with no reverse dns",
        "unresolvable relay host name",
        "we do not accept mail from hosts with dynamic ip or generic dns ptr-records",
        "no reverse dns",
        "reverse dns lookup",
        "missing ptr",
        "no ptr record",
        "reverse dns entry",
        "rdns",
        "ptr record",
        _re(r"domain .{1,200} mismatches client ip"),
        _re(r"dns lookup failure: .{1,200} try again later"),
        _re(r"reverse dns lookup for host .{1,200} failed permanently"),
        _re(r"server access .{1,200} forbidden by invalid rdns record of your mail server"),
        _re(r"service permits .{1,200} unverifyable sending ips"),
    ),
    R.NOTCOMPLIANTRFC: (
        "this message is not rfc 5322 compliant",
        "https://support.google.com/mail/?p=rfcmessagenoncompliant",
        "duplicate header",
        "messages with multiple addresses",
        "multiple addresses in from: header",
        "is not rfc 5322 compliant",
        "is not rfc5322 compliant",
        "not rfc 5322 compliant",
        "rfc 5322",
        "rfc5322",
    ),
    R.POLICYVIOLATION: (
        "because the recipient is not accepting mail with attachments",
        "because the recipient is not accepting mail with embedded images",
        "closed mailing list",
        "denied by policy",
        "email not accepted for policy reasons",
        "email rejected due to security policies",
        "header are not accepted",
        "header error",
        "message given low priority",
        "message not accepted for policy reasons",
        "protocol violation",
        "the email address used to send your message is not subscribed to this group",
        "you have exceeded the the allowable number of posts without solving a captcha",
        "rejected for policy reasons",
        "policy violation",
        "violates our policy",
        "prohibited attachment",
        _re(r"mail from .{1,200} rejected for policy reasons"),
    ),
    R.VIRUSDETECTED: (
        "it has a potentially executable attachment",
        "the message was rejected because it contains prohibited virus or spam content",
        "this form of attachment has been used by recent viruses or other malware",
        "virus detected",
        "virus phishing/malicious_url detected",
        "your message was infected with a virus",
        "contains a virus",
        "infected with",
        "virus found",
        "malware detected",
        "message contains malware",
    ),
    R.SECURITYERROR: (
        "account not subscribed to ses",
        "authentication credentials invalid",
        "authentication failure",
        "authentication required",
        "authentication turned on in your email client",
        "unauthenticated senders not allowed",
        "verification failure",
        "you are not authorized to send mail, authentication is required",
        "you don't authenticate or the domain isn't in my list of allowed rcpthosts",
        _re(r"authentication failed; server .{1,200} said: "),
        _re(r"authentification invalide.{1,200}305"),
        _re(r"authentification requise.{1,200}402"),
        _re(r"user .{1,200} is not authorized to perform ses:sendrawemail on resource"),
    ),
    R.SYSTEMERROR: (
        "aliasing/forwarding loop broken",
        "can't create user output file",
        "could not load drd for domain",
        "internal error reading data",
        "internal server error: operation now in progress",
        "interrupted system call",
        "it encountered an error while being processed",
        "it would create a mail loop",
        "local configuration error",
        "local error in processing",
        "loop was found in the mail exchanger",
        "loops back to myself",
        "mail system configuration error",
        "queue file write error",
        "recipient deferred because there is no mdb",
        "remote server is misconfigured",
        "server configuration error",
        "service currently unavailable",
        "system config error",
        "temporary local problem",
        "timeout waiting for input",
        _re(r"unable to connect .{1,200}daemon"),
        _re(r"transaction failed\b"),
    ),
    R.NETWORKERROR: (
        "could not connect and send the mail to",
        "routing loop detected",
        "dns query failed",
        "hop count exceeded - possible mail loop",
        "host is unreachable",
        "host name lookup failure",
        "host not found, try again",
        "mail forwarding loop for ",
        "malformed name server reply",
        "malformed or unexpected name server reply",
        "maximum forwarding loop count exceeded",
        "message looping",
        "message probably in a routing loop",
        "no route to host",
        "too many hops",
        "unable to resolve route ",
        "unrouteable mail domain",
        "network error",
        "name server timeout",
        "temporary dns failure",
        "dns lookup failed",
        "no mx or a record",
        "connection refused",
    ),
    R.EXPIRED: (
        "connection timed out",
        "could not find a gateway for",
        "delivery time expired",
        "giving up on",
        "could not deliver for the last",
        "envelope expired",
        "it has not been collected after",
        "message expired after sitting in queue for",
        "message timed out",
        "retry time not reached for any host after a long failure period",
        "server did not respond",
        "this message has been in the queue too long",
        "was not reachable within the allowed queue period",
        "your message could not be delivered for more than",
        "retry timeout exceeded",
        "queue too long",
        "delivery expired",
        "message expired",
        "has been delayed",
        "could not be delivered within",
        "too long in the queue",
        "no successful delivery attempt",
        "has not yet been delivered",
        _re(r"failed to deliver to domain .{1,200} after \d+ tries"),
    ),
    R.CONTENTERROR: (
        "improper use of 8-bit data in message header",
        "message header size, or recipient list, exceeds policy limit",
        "message mime complexity exceeds the policy maximum",
        "routing loop detected -- too many received: headers",
        "this message contain invalid mime headers",
        "this message contain improperly-formatted binary content",
        "this message contain text that uses unnecessary base64 encoding",
        "invalid mime",
        "malformed mime",
    ),
    R.SYSTEMFULL: (
        "mail system full",
        "requested mail action aborted: exceeded storage allocation",
        "system full",
        "insufficient system storage",
        "no space left on device",
        "disk full",
    ),
    R.NOTACCEPT: (
        "does not accept mail",
        "host/domain does not accept mail",
        "name server: .: host not found",
        "we do not accept mail",
        "null mx",
        "domain does not accept mail",
        "no mx for domain",
        "this domain does not accept email",
        "does not receive mail",
    ),
    R.MAILERERROR: (
        "command failed: ",
        "exit code ",
        "error processing mail",
        "unknown mailer error",
        "procmail:",
        "mailer error",
        "pipe to |",
        "x-unix;",
        _re(r"command died with status \d+"),
        _re(r"command output:"),
    ),
    R.SYNTAXERROR: ("syntax error", "command unrecognized", "unrecognized command", "bad sequence of commands"),
    R.FAILEDSTARTTLS: (
        "starttls is required to send mail",
        "tls required but not supported",
        "tls negotiation failed",
        "must issue a starttls command first",
        "encryption required",
        "starttls failed",
        "tls handshake failed",
        "requires tls",
        "tls is required",
    ),
    R.SUPPRESSED: ("address is on the suppression list", "suppression list", "on the account-level suppression list"),
    R.VACATION: (
        "i am away on vacation",
        "i am away until",
        "i am out of the office",
        "i will be traveling for work on",
    ),
}


# Phrases that look like a reason's but mean something else: checked before the table.
EXCEPT: dict[Reason, tuple[str, ...]] = {
    R.REJECTED: ("5.1.0 address rejected", "recipient address rejected", "sender ip address rejected"),
}


_QUANTIFIER = re.compile(r"[?*+]|\{\d*,?\d*\}")  # what makes the item before it optional or repeated


def _skip_group(pattern: str, start: int) -> int:
    """The index after the group opening at ``start`` (nested groups, classes, escapes)."""
    depth, i = 0, start
    while True:
        char = pattern[i]
        if char == "\\":
            i += 1
        elif char == "[":
            i = _skip_class(pattern, i) - 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1


def _skip_class(pattern: str, start: int) -> int:
    """The index after the character class opening at ``start``."""
    i = start + 1
    if pattern[i] == "^":
        i += 1
    if pattern[i] == "]":
        i += 1  # a "]" first in a class is a member
    while pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _guard(pattern: str) -> str:
    """The longest run of plain characters every match of ``pattern`` contains, '' when it
    has none: the regex is only run on texts holding it (an ``in`` test, fast in C).

    A run is made of literal characters (escaped punctuation too) outside groups and classes
    and not followed by a quantifier; anything else ends it. A pattern with an alternation
    or flags outside groups has no guard.
    """
    if pattern.startswith("(?") and pattern[2:3].isalpha():
        return ""  # inline flags (case-blindness...) would make the characters not literal
    runs: list[str] = []
    run = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        literal: str | None = None
        if char == "\\":
            escaped = pattern[i + 1]
            literal = None if escaped.isalnum() else escaped  # \d, \b, \1... are no characters
            i += 2
        elif char == "[":
            i = _skip_class(pattern, i)
        elif char == "(":
            i = _skip_group(pattern, i)
        elif char == "|":
            return ""
        else:
            literal = None if char in ".^$" else char
            i += 1
        quantifier = _QUANTIFIER.match(pattern, i)
        if quantifier:
            literal = None
            i = quantifier.end()
            if pattern[i : i + 1] in ("?", "+"):
                i += 1  # lazy or possessive
        if literal is None:
            runs.append(run)
            run = ""
        else:
            run += literal
    runs.append(run)
    return max(runs, key=len)


class _Table:
    """One reason's phrases: plain substrings (tested with ``in``, fast in C) and the few
    regular expressions, each guarded by a literal string it cannot match without."""

    __slots__ = ("patterns", "plain")

    def __init__(self, entries: tuple[str, ...]) -> None:
        self.plain = tuple(e for e in entries if not e.startswith("\x00"))
        self.patterns = tuple((_guard(e[1:]), re.compile(e[1:])) for e in entries if e.startswith("\x00"))

    def search_patterns(self, text: str) -> bool:
        # a plain loop: any() over a generator costs a frame resumption per pattern, and
        # this runs for every reason a text's words did not already settle
        for guard, pattern in self.patterns:  # noqa: SIM110 - see above
            if (not guard or guard in text) and pattern.search(text):
                return True
        return False

    def search(self, text: str) -> bool:
        if any(phrase in text for phrase in self.plain):
            return True
        return self.search_patterns(text)


MATCHERS: dict[Reason, _Table] = {reason: _Table(entries) for reason, entries in PHRASES.items()}
EXCLUDERS: dict[Reason, _Table] = {reason: _Table(entries) for reason, entries in EXCEPT.items()}

_SPACES = re.compile(r"\s+")


MATCH_LIMIT = 1200  # characters of a diagnostic the phrase tables look at


def normalise(text: str) -> str:
    """Lower-case and squeeze whitespace, so phrases match across folded lines."""
    head = text[: MATCH_LIMIT * 2]
    # Diagnostics usually come with their whitespace squeezed already: the regex then
    # changes nothing (str.split() and \s agree on what whitespace is), and costs 4x more.
    if " ".join(head.split()) != head:
        head = _SPACES.sub(" ", head)
    return head.lower()[:MATCH_LIMIT]


# A phrase of the index: the reason it says, the phrase, and whether it is an exception (a
# phrase of EXCEPT, which cancels its reason) rather than a match.
_Entry = tuple[Reason, str, bool]


class _Index:
    """Plain phrases by their first two words (or their one word): a text can only contain a
    phrase if it contains that pair of words side by side, so the text's word pairs name the
    few phrases worth testing with ``in``. Phrases are written to start and end at word
    boundaries ("user unknown" does not match "superuser unknown"). Phrases without a letter
    are always tested.

    The text's words and pairs are looked up by C code (map, filter, dict.get over zip's
    tuples): a Python loop over the words cost several times more than all the rest.
    """

    __slots__ = ("always", "by_pair", "by_word", "words")

    def __init__(self, matchers: dict[Reason, _Table], excepters: dict[Reason, _Table]) -> None:
        by_pair: dict[tuple[bytes, bytes], list[_Entry]] = {}  # the first two words
        by_word: dict[bytes, list[_Entry]] = {}  # one-word phrases
        always: list[_Entry] = []
        for tables, excepting in ((matchers, False), (excepters, True)):
            for reason, table in tables.items():
                for phrase in table.plain:
                    entry = (reason, phrase, excepting)
                    words = _words(phrase)
                    if not words:
                        always.append(entry)
                    elif len(words) == 1:
                        by_word.setdefault(words[0], []).append(entry)
                    else:
                        by_pair.setdefault((words[0], words[1]), []).append(entry)
        self.by_pair = {pair: tuple(entries) for pair, entries in by_pair.items()}
        self.by_word = {word: tuple(entries) for word, entries in by_word.items()}
        self.words = frozenset(by_word)
        self.always = tuple(always)

    def hits(self, text: str) -> tuple[set[Reason], set[Reason]]:
        """The reasons whose plain phrases the text holds, and those whose exceptions it holds."""
        found: set[Reason] = set()
        excepted: set[Reason] = set()
        words = _words(text)
        # the phrases named by the text's pairs of neighbouring words (a pair met twice names
        # its phrases twice: the second test is skipped below), by its words, and the others
        candidates = list(filter(None, map(self.by_pair.get, pairwise(words))))
        candidates.extend(map(self.by_word.__getitem__, self.words.intersection(words)))
        if self.always:
            candidates.append(self.always)
        for entries in candidates:
            for reason, phrase, excepting in entries:
                into = excepted if excepting else found
                if reason not in into and phrase in text:
                    into.add(reason)
        return found, excepted


# Every byte but a-z becomes a space: see _words.
_LETTERS_ONLY = bytes(byte if 0x61 <= byte <= 0x7A else 0x20 for byte in range(256))


def _words(text: str) -> list[bytes]:
    """The words of a text: its runs of a-z (``re.findall("[a-z]+", text)``, as ASCII bytes,
    3x faster). Any other character separates words, a non-ASCII one too (replaced by "?")."""
    return text.encode("ascii", "replace").translate(_LETTERS_ONLY).split()


_INDEX = _Index(MATCHERS, EXCLUDERS)
# Reasons with regular expressions among their phrases, or among their exceptions: the only
# ones whose answer the index alone does not settle.
_PATTERNED = frozenset(reason for reason, table in MATCHERS.items() if table.patterns)
_EXCEPT_PATTERNED = frozenset(reason for reason, table in EXCLUDERS.items() if table.patterns)
_PATTERNED_ANY = _PATTERNED | _EXCEPT_PATTERNED


class Said:
    """What one (normalised) text says, worked out on the first question: the classifier
    asks about the same text many times."""

    __slots__ = ("_hits", "_sure", "_unsettled", "text")
    _hits: set[Reason]  # the reasons whose plain phrases the text holds
    _unsettled: set[Reason]  # the reasons whose regular expressions are still to be tried

    def __init__(self, normalised_text: str) -> None:
        self.text = normalised_text
        self._sure: set[Reason] | None = None  # the reasons said; None until first asked

    def says(self, reason: Reason) -> bool:
        sure = self._sure
        if sure is None:
            if not self.text:
                return False
            sure = self._read()
        if reason in sure:
            return True
        if reason not in self._unsettled:
            return False
        self._unsettled.discard(reason)
        if self._work_out(reason):
            sure.add(reason)
            return True
        return False

    def _read(self) -> set[Reason]:
        hits, excepted = _INDEX.hits(self.text)
        self._hits = hits
        self._unsettled = set(_PATTERNED_ANY)
        self._unsettled -= excepted
        self._sure = hits - excepted - _EXCEPT_PATTERNED
        return self._sure

    def _work_out(self, reason: Reason) -> bool:
        """A reason the index did not settle: its regular expressions decide."""
        text = self.text
        if reason not in self._hits:
            table = MATCHERS.get(reason)
            if not (table and table.search_patterns(text)):
                return False
        excluder = EXCLUDERS.get(reason)
        return not (excluder and excluder.search_patterns(text))


def says(reason: Reason, normalised_text: str) -> bool:
    """Whether the (normalised) diagnostic text says ``reason``. To ask about one text many
    times, keep a :class:`Said`."""
    return Said(normalised_text).says(reason)
