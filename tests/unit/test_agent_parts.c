/* agent-worker parts in isolation: voice activity and barge-in, the silence
 * watchdog, fillers, the state rules (modes.c), the assistant snapshot,
 * provider helpers, the scripted responder and the offline speech round
 * trip (espeak-ng → pocketsphinx). */
#include "agent-worker/agent.h"
#include "harness/test.h"
#include "media/media.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void tone(int16_t *pcm, size_t n, int amp)
{
	for (size_t i = 0; i < n; i++)
		pcm[i] = (int16_t)(amp * sin(2 * M_PI * 300.0 * (double)i / AGENT_RATE));
}

/* Feeds ms of tone (or silence) into v; returns the first result that is not NONE. */
static enum vad_result feed(struct vad *v, int ms, int amp, bool agent_speaking)
{
	int16_t frame[AGENT_FRAME_SAMPLES];
	enum vad_result r = VAD_NONE;
	for (int t = 0; t < ms; t += AGENT_FRAME_MS) {
		tone(frame, AGENT_FRAME_SAMPLES, amp);
		enum vad_result x = vad_feed(v, frame, agent_speaking, 0);
		if (x != VAD_NONE && r == VAD_NONE)
			r = x;
	}
	return r;
}

static int test_vad_turns_and_barge_in(void)
{
	int err = 0;
	struct vad v = { 0 };
	TEST_EQ_INT(vad_init(&v, 500, 400, 600), 0);
	TEST_EQ_INT(feed(&v, 1000, 0, false), VAD_NONE);           /* silence */
	TEST_EQ_INT(feed(&v, 800, 8000, false), VAD_NONE);         /* speech, no agent */
	TEST_EQ_INT(feed(&v, 600, 0, false), VAD_SEGMENT);         /* ends after 600 ms */
	/* with the lead of quiet audio before the first voiced frame */
	TEST_EQ_INT((int)v.nsegment, (VAD_LEAD_MS + 800 + 600) * AGENT_RATE / 1000);
	/* over the agent: a long utterance barges in after 400 ms of voice */
	TEST_EQ_INT(feed(&v, 380, 8000, true), VAD_NONE);
	TEST_EQ_INT(feed(&v, 20, 8000, true), VAD_BARGE_IN);
	TEST_EQ_INT(feed(&v, 600, 0, false), VAD_SEGMENT);
	/* "mm-hmm": 200 ms over the agent neither barges in nor becomes a turn */
	TEST_EQ_INT(feed(&v, 200, 8000, true), VAD_NONE);
	TEST_EQ_INT(feed(&v, 600, 0, true), VAD_DROPPED);
	/* a click is no turn either */
	TEST_EQ_INT(feed(&v, 40, 8000, false), VAD_NONE);
	TEST_EQ_INT(feed(&v, 600, 0, false), VAD_DROPPED);
	/* below the threshold is silence */
	TEST_EQ_INT(feed(&v, 1000, 300, false), VAD_NONE);
out:
	vad_fini(&v);
	return err;
}

static int test_watchdog(void)
{
	int err = 0;
	struct watchdog w;
	watchdog_init(&w, 1000, 2);
	TEST_EQ_INT(watchdog_tick(&w, 5000, true), WD_NONE); /* not started */
	watchdog_start(&w, 0);
	TEST_EQ_INT(watchdog_tick(&w, 999, true), WD_NONE);
	TEST_EQ_INT(watchdog_tick(&w, 1000, true), WD_REPROMPT);
	TEST_EQ_INT(watchdog_tick(&w, 1500, false), WD_NONE); /* the reprompt is spoken */
	TEST_EQ_INT(watchdog_tick(&w, 2499, true), WD_NONE);
	TEST_EQ_INT(watchdog_tick(&w, 2500, true), WD_REPROMPT);
	TEST_EQ_INT(watchdog_tick(&w, 3500, true), WD_GOODBYE);
	/* the caller speaks: reprompts start over */
	watchdog_caller_spoke(&w, 4000);
	TEST_EQ_INT(watchdog_tick(&w, 5000, true), WD_REPROMPT);
	/* stopped (hold): nothing however long */
	watchdog_stop(&w);
	TEST_EQ_INT(watchdog_tick(&w, 100000, true), WD_NONE);
	watchdog_start(&w, 100000);
	TEST_EQ_INT(watchdog_tick(&w, 100500, true), WD_NONE);
	TEST_EQ_INT(watchdog_tick(&w, 101000, true), WD_REPROMPT);
out:
	return err;
}

static int test_fillers(void)
{
	int err = 0;
	struct filler f;
	filler_init(&f, true, 300, 3, 42);
	filler_start(&f);
	filler_turn(&f);
	TEST_EQ_INT(filler_due(&f, 299, false), -1);  /* not late yet */
	TEST_EQ_INT(filler_due(&f, 5000, true), -1);  /* never over agent speech */
	int last = filler_due(&f, 300, false);
	TEST_ASSERT(last >= 0 && last < 3);
	TEST_EQ_INT(filler_due(&f, 5000, false), -1); /* one per turn */
	for (int i = 0; i < 200; i++) {
		filler_turn(&f);
		int k = filler_due(&f, 1000, false);
		TEST_ASSERT(k >= 0 && k != last);     /* never twice in a row */
		last = k;
	}
	filler_stop(&f);                              /* on hold */
	filler_turn(&f);
	TEST_EQ_INT(filler_due(&f, 100000, false), -1);
	filler_init(&f, false, 300, 3, 1);
	filler_start(&f);
	filler_turn(&f);
	TEST_EQ_INT(filler_due(&f, 100000, false), -1);
out:
	return err;
}

/* modes.c: the watchdog and fillers run in active only, so hold and ending
 * stop them and resume restarts the watchdog from zero; a hold the session
 * ignores cannot undo a newer hold. */
static int test_modes(void)
{
	int err = 0;
	struct watchdog w;
	struct filler f;
	watchdog_init(&w, 1000, 2);
	filler_init(&f, true, 300, 2, 7);
	mode_enter(SESSION_ENDED, SESSION_READY, &w, &f, 0);
	TEST_ASSERT(!w.running && !f.running);
	mode_enter(SESSION_READY, SESSION_ACTIVE, &w, &f, 100);
	TEST_ASSERT(w.running && f.running);
	TEST_EQ_INT(watchdog_tick(&w, 1100, true), WD_REPROMPT);
	mode_enter(SESSION_ACTIVE, SESSION_ON_HOLD, &w, &f, 1200);
	TEST_ASSERT(!w.running && !f.running);
	TEST_EQ_INT(watchdog_tick(&w, 100000, true), WD_NONE);
	mode_enter(SESSION_ON_HOLD, SESSION_ACTIVE, &w, &f, 200000);
	TEST_EQ_INT(watchdog_tick(&w, 200999, true), WD_NONE); /* counts from the resume */
	TEST_EQ_INT(watchdog_tick(&w, 201000, true), WD_REPROMPT);
	mode_enter(SESSION_ACTIVE, SESSION_ENDING, &w, &f, 201500);
	TEST_ASSERT(!w.running && !f.running);

	TEST_ASSERT(mode_says(SESSION_ACTIVE, SAY_REPLY) &&
		    mode_says(SESSION_WAITING_FOR_ANSWER, SAY_REPLY));
	TEST_ASSERT(!mode_says(SESSION_ON_HOLD, SAY_REPLY) && !mode_says(SESSION_ENDED, SAY_END));
	TEST_ASSERT(mode_says(SESSION_ENDING, SAY_END) && !mode_says(SESSION_ENDING, SAY_FILLER));
	TEST_ASSERT(!mode_of(SESSION_ON_HOLD)->hears &&
		    !mode_of(SESSION_WAITING_FOR_ANSWER)->hears);
	TEST_ASSERT(mode_of(SESSION_READY)->hears && !mode_of(SESSION_READY)->watchdog);
	TEST_EQ_INT(mode_of(SESSION_ON_HOLD)->max_duration, MAXDUR_END_NOW);
	TEST_EQ_INT(mode_of((enum session_state)99)->says, SAYS_NOTHING);

	TEST_ASSERT(gate_waits(false, true, false) && !gate_waits(true, true, false));
	TEST_ASSERT(gate_waits(true, false, true) && !gate_waits(false, false, false));
	TEST_ASSERT(gate_opens(SESSION_WAITING_FOR_ANSWER, true, false));
	TEST_ASSERT(!gate_opens(SESSION_ACTIVE, true, false) &&
		    !gate_opens(SESSION_WAITING_FOR_ANSWER, false, false));
	TEST_EQ_STR(gate_timeout_reason(true), "no_participant");
	TEST_EQ_STR(gate_timeout_reason(false), "no_answer");

	struct hold_signal h = { 0 };
	uint32_t first = hold_signal_set(&h, true);
	TEST_ASSERT(hold_signal_held(&h));
	hold_signal_ignore(&h, first);             /* nothing to hold: cleared */
	TEST_ASSERT(!hold_signal_held(&h));
	uint32_t early = hold_signal_set(&h, true); /* a hold while waiting… */
	hold_signal_set(&h, false);                 /* …a resume and a new hold come */
	hold_signal_set(&h, true);
	hold_signal_ignore(&h, early);              /* the session ignores the first */
	TEST_ASSERT(hold_signal_held(&h));          /* the newer hold stands */
	hold_signal_set(&h, false);
	TEST_ASSERT(!hold_signal_held(&h));
out:
	return err;
}

static int test_assistant_parse(void)
{
	int err = 0;
	char why[160] = "";
	struct assistant *a = NULL;
	cJSON *j = cJSON_Parse(
		"{\"id\":\"a\",\"prompt\":\"p\",\"start_instruction\":\"Hello Ada.\","
		"\"interaction_config\":{\"silence_timeout_s\":0.25,\"max_reprompts\":1,"
		"\"end_call_phrases\":[\"bye\"]},\"llm_config\":{\"provider\":\"local\"}}");
	TEST_ASSERT(j);
	TEST_EQ_INT(assistant_parse(&a, j, why, sizeof(why)), 0);
	TEST_EQ_INT(a->silence_timeout_ms, 250);
	TEST_EQ_INT(a->max_reprompts, 1);
	TEST_EQ_INT(a->nend_call_phrases, 1);
	TEST_EQ_INT(a->nfillers, 3);
	TEST_ASSERT(a->speaks_first && a->fillers_enabled && a->recording && !a->realtime);
	TEST_EQ_STR(a->start_instruction, "Hello Ada.");
	TEST_EQ_STR(assistant_provider(a->llm_config), "local");
	TEST_EQ_STR(assistant_provider(a->tts_config), "local");
	a = assistant_free(a);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"interaction_config\":{\"max_reprompts\":\"two\"}}");
	TEST_EQ_INT(assistant_parse(&a, j, why, sizeof(why)), EINVAL);
	TEST_CONTAINS(why, "max_reprompts");
	cJSON_Delete(j);
	j = cJSON_Parse("{\"mode\":\"telepathy\"}");
	TEST_EQ_INT(assistant_parse(&a, j, why, sizeof(why)), EINVAL);
	TEST_CONTAINS(why, "mode");
out:
	cJSON_Delete(j);
	assistant_free(a);
	return err;
}

static int test_provider_helpers(void)
{
	int err = 0;
	int16_t in[480], *out = NULL;
	size_t n = 0;
	TEST_EQ_INT(provider_sentence_len("Hello there. How", 16), 12);
	TEST_EQ_INT(provider_sentence_len("Hello there", 11), 0);
	TEST_EQ_INT(provider_sentence_len("3.5 percent", 11), 0);
	TEST_EQ_INT(provider_sentence_len("open nine to five.", 18), 18);
	TEST_EQ_INT(provider_sentence_len("costs 3.", 8), 0);
	TEST_ASSERT(provider_phrase_in("What are your HOURS?", "hours"));
	TEST_ASSERT(!provider_phrase_in("what are your hoursly", "hours"));
	TEST_ASSERT(provider_phrase_in("ok bye bye", "bye"));
	TEST_ASSERT(!provider_phrase_in("maybe", "bye"));
	for (int i = 0; i < 480; i++)
		in[i] = (int16_t)i;
	TEST_EQ_INT(provider_resample(&out, &n, in, 480, 48000, 16000), 0);
	TEST_EQ_INT(n, 160);
	TEST_EQ_INT(out[1], 3);
out:
	free(out);
	return err;
}

struct said {
	char text[512];
	int n;
};

static int on_sentence(const char *s, void *arg)
{
	struct said *w = arg;
	size_t l = strlen(w->text);
	snprintf(w->text + l, sizeof(w->text) - l, "%s|", s);
	w->n++;
	return 0;
}

/* provider_api_key(env, url) with stderr (where the log goes) caught into
 * out; the key is returned. */
static const char *api_key_logged(const struct provider_env *env, const char *url, char *out,
				  size_t len)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	out[0] = '\0';
	if (!f || saved < 0 || dup2(fileno(f), STDERR_FILENO) < 0) {
		if (f)
			fclose(f);
		if (saved >= 0)
			close(saved);
		snprintf(out, len, "(stderr not caught)");
		return NULL;
	}
	const char *key = provider_api_key(env, url);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	size_t n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
	return key;
}

/* A withheld key says so once, naming the base_url's origin, never the key
 * or the base_url's userinfo. */
static int test_provider_key_withheld_logged(void)
{
	int err = 0;
	char line[1024];
	struct provider_env env = { "https://api.openai.com/v1", "sk-deploy", false };
	TEST_ASSERT(!api_key_logged(&env, "https://evil.example/v1?k=1", line, sizeof(line)));
	TEST_CONTAINS(line, "provider_key_withheld");
	TEST_CONTAINS(line, "https://evil.example:443 is not OPENAI_BASE_URL's origin "
			    "https://api.openai.com:443");
	TEST_ASSERT(!strstr(line, "sk-deploy") && !strstr(line, "k=1"));
	TEST_ASSERT(!strchr(strchr(line, '\n') ? strchr(line, '\n') + 1 : "", '\n'));
	TEST_ASSERT(!api_key_logged(&env, "https://api.openai.com:pw@api.openai.com/v1", line,
				    sizeof(line)));
	TEST_CONTAINS(line, "https://api.openai.com:443 names a user or password");
	TEST_ASSERT(!strstr(line, "pw"));
	TEST_ASSERT(!api_key_logged(&env, "wss://[2001:db8::1]:8443/v1", line, sizeof(line)));
	TEST_CONTAINS(line, "wss://[2001:db8::1]:8443 is not");
	TEST_ASSERT(!api_key_logged(&env, "api.openai.com/v1", line, sizeof(line)));
	TEST_CONTAINS(line, "base_url is not an http, https, ws or wss URL");
	/* a key sent, or none to send: nothing said */
	TEST_EQ_STR(api_key_logged(&env, "wss://api.openai.com/v1", line, sizeof(line)),
		    "sk-deploy");
	TEST_EQ_STR(line, "");
	env.openai_api_key = NULL;
	TEST_ASSERT(!api_key_logged(&env, "https://evil.example/v1", line, sizeof(line)));
	TEST_EQ_STR(line, "");
out:
	return err;
}

/* The deployment's key goes only where OPENAI_BASE_URL points. */
static int test_provider_api_key(void)
{
	int err = 0;
	const char *base = "https://api.openai.com/v1";
	struct provider_env env = { base, "sk-deploy", false }, none = { base, NULL, false };
	TEST_EQ_STR(provider_api_key(&env, base), "sk-deploy");
	TEST_EQ_STR(provider_api_key(&env, NULL), "sk-deploy");
	TEST_EQ_STR(provider_api_key(&env, "https://API.openai.com:443/v1/"), "sk-deploy");
	TEST_EQ_STR(provider_api_key(&env, "wss://api.openai.com/v1/realtime"), "sk-deploy");
	TEST_ASSERT(!provider_api_key(&env, "https://evil.example/v1"));
	TEST_ASSERT(!provider_api_key(&env, "https://api.openai.com.evil.example/v1"));
	TEST_ASSERT(!provider_api_key(&env, "http://api.openai.com/v1"));
	TEST_ASSERT(!provider_api_key(&env, "https://api.openai.com:8443/v1"));
	TEST_ASSERT(!provider_api_key(&env, "https://x@api.openai.com/v1"));
	TEST_ASSERT(!provider_api_key(&env, "https://api.openai.com@evil.example/v1"));
	TEST_ASSERT(!provider_api_key(&env, "https://api.openai.com%40evil.example/v1"));
	TEST_ASSERT(!provider_api_key(&env, "api.openai.com/v1"));
	TEST_ASSERT(!provider_api_key(&env, "ftp://api.openai.com/v1"));
	TEST_ASSERT(!provider_api_key(&env, "https://api.openai.com./v1"));
	TEST_EQ_STR(provider_api_key(&env, "HTTPS://API.OPENAI.COM/v1"), "sk-deploy");
	TEST_EQ_STR(provider_api_key(&env, "https://api.open%61i.com/v1"), "sk-deploy");
	TEST_ASSERT(!provider_api_key(&none, base));
	env.openai_base_url = "http://127.0.0.1:8089/v1";
	TEST_EQ_STR(provider_api_key(&env, "http://127.0.0.1:8089"), "sk-deploy");
	TEST_ASSERT(!provider_api_key(&env, "http://127.0.0.1:8090/v1"));
	TEST_EQ_STR(provider_api_key(&env, "ws://127.1:8089/v1/realtime"), "sk-deploy");
	env.openai_base_url = "http://[::1]:8089/v1";
	TEST_EQ_STR(provider_api_key(&env, "ws://[0:0::1]:8089"), "sk-deploy");
	TEST_ASSERT(!provider_api_key(&env, "http://[::2]:8089/v1"));
out:
	return err;
}

static int test_scripted_responder(void)
{
	int err = 0;
	char why[160];
	struct assistant *a = NULL;
	void *ctx = NULL;
	struct provider_env env = { "http://127.0.0.1:1", NULL, true };
	cJSON *j = cJSON_Parse("{\"llm_config\":{\"provider\":\"local\",\"default\":\"Pardon?\","
			       "\"script\":[{\"match\":\"hours\",\"reply\":\"We are open nine to "
			       "five. Anything else?\"},"
			       "{\"match\":\"book an appointment\",\"reply\":\"Sure.\"}]}}");
	TEST_EQ_INT(assistant_parse(&a, j, why, sizeof(why)), 0);
	struct provider_args pa = { a->llm_config, a, &env };
	TEST_EQ_INT(llm_local.new(&ctx, &pa), 0);
	struct llm_msg m1[] = { { "system", "be nice" }, { "user", "what are your hours" } };
	struct said w = { "", 0 };
	TEST_EQ_INT(llm_local.reply(ctx, m1, 2, on_sentence, &w), 0);
	TEST_EQ_STR(w.text, "We are open nine to five.|Anything else?|");
	struct llm_msg m2[] = { { "user", "i would like to book an appointment please" } };
	memset(&w, 0, sizeof(w));
	TEST_EQ_INT(llm_local.reply(ctx, m2, 1, on_sentence, &w), 0);
	TEST_EQ_STR(w.text, "Sure.|");
	struct llm_msg m3[] = { { "user", "tell me a joke" } };
	memset(&w, 0, sizeof(w));
	TEST_EQ_INT(llm_local.reply(ctx, m3, 1, on_sentence, &w), 0);
	TEST_EQ_STR(w.text, "Pardon?|");
	struct llm_msg m4[] = { { "system", "Hello Ada, this is the clinic." } };
	memset(&w, 0, sizeof(w));
	TEST_EQ_INT(llm_local.reply(ctx, m4, 1, on_sentence, &w), 0);
	TEST_EQ_STR(w.text, "Hello Ada, this is the clinic.|");
out:
	if (ctx)
		llm_local.free(ctx);
	cJSON_Delete(j);
	assistant_free(a);
	return err;
}

/* An assistant (from JSON) with the offline speech providers open. */
struct speech_fx {
	struct assistant *a;
	void *tts, *stt;
};

static int speech_fx_open(struct speech_fx *fx, const char *assistant_json)
{
	static struct provider_env env = { "http://127.0.0.1:1", NULL, true };
	char why[160];
	memset(fx, 0, sizeof(*fx));
	cJSON *j = cJSON_Parse(assistant_json);
	int err = j ? assistant_parse(&fx->a, j, why, sizeof(why)) : EINVAL;
	cJSON_Delete(j);
	if (err)
		return err;
	struct provider_args ta = { fx->a->tts_config, fx->a, &env };
	struct provider_args sa = { fx->a->stt_config, fx->a, &env };
	if ((err = tts_local.new(&fx->tts, &ta)) == 0)
		err = stt_local.new(&fx->stt, &sa);
	return err;
}

static void speech_fx_close(struct speech_fx *fx)
{
	if (fx->tts)
		tts_local.free(fx->tts);
	if (fx->stt)
		stt_local.free(fx->stt);
	assistant_free(fx->a);
}

/* espeak-ng speaks a scripted phrase, pocketsphinx hears it back. */
static int test_offline_speech_round_trip(void)
{
	int err = 0;
	struct speech_fx fx;
	int16_t *pcm = NULL;
	size_t n = 0;
	char *text = NULL;
	TEST_EQ_INT(
		speech_fx_open(&fx,
			       "{\"interaction_config\":{\"end_call_phrases\":[\"bye\"]},"
			       "\"llm_config\":{\"script\":[{\"match\":\"hours\",\"reply\":\"x\"},"
			       "{\"match\":\"book an appointment\",\"reply\":\"y\"}]}}"),
		0);
	static const struct { const char *say, *hear; } cases[] = {
		{ "what are your hours", "hours" },
		{ "yes please", "yes" },
		{ "bye bye", "bye" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(cases); i++) {
		TEST_EQ_INT(tts_local.synth(fx.tts, &pcm, &n, cases[i].say), 0);
		TEST_ASSERT(n > AGENT_RATE / 4 && n < AGENT_RATE * 5);
		TEST_ASSERT(vad_rms(pcm, n) > 500);
		TEST_EQ_INT(stt_local.transcribe(fx.stt, &text, pcm, n), 0);
		printf("# said \"%s\", heard \"%s\"\n", cases[i].say, text);
		TEST_ASSERT(provider_phrase_in(text, cases[i].hear));
		free(text);
		text = NULL;
		free(pcm);
		pcm = NULL;
	}
out:
	free(text);
	free(pcm);
	speech_fx_close(&fx);
	return err;
}

/* pcm (16 kHz) as a carrier call carries it: 8 kHz A-law and back. */
static int telephone_band(int16_t **outp, size_t *outn, const int16_t *pcm, size_t n)
{
	int err = 0;
	struct resampler *down = NULL, *up = NULL;
	size_t nb_n = n / 2 + 64, wb_n = n + 256;
	int16_t *nb = calloc(nb_n, sizeof(*nb)), *wb = calloc(wb_n, sizeof(*wb));
	uint8_t *law = calloc(nb_n, 1);
	if (!nb || !wb || !law) {
		err = ENOMEM;
		goto out;
	}
	if ((err = resampler_new(&down, AGENT_RATE, 8000, RESAMPLER_QUALITY_VOIP)) ||
	    (err = resampler_new(&up, 8000, AGENT_RATE, RESAMPLER_QUALITY_VOIP)) ||
	    (err = resampler_process(down, nb, &nb_n, pcm, n)))
		goto out;
	g711_encode(G711_ALAW, law, nb, nb_n);
	g711_decode(G711_ALAW, nb, law, nb_n);
	if ((err = resampler_process(up, wb, &wb_n, nb, nb_n)))
		goto out;
	*outp = wb;
	*outn = wb_n;
	wb = NULL;
out:
	resampler_free(down);
	resampler_free(up);
	free(nb);
	free(wb);
	free(law);
	return err;
}

/* Telephone audio through the wideband model hears "what how your how
 * when" for "what are your hours"; the script's phrase is one alternative
 * of the grammar, so it is heard whole. */
static int test_telephone_speech_phrase(void)
{
	int err = 0;
	struct speech_fx fx;
	int16_t *pcm = NULL, *tel = NULL;
	size_t n = 0, tn = 0;
	char *text = NULL;
	TEST_EQ_INT(
		speech_fx_open(&fx,
			       "{\"llm_config\":{\"script\":[{\"match\":\"hours\",\"reply\":\"x\"},"
			       "{\"match\":\"What are your\",\"reply\":\"x\"}]}}"),
		0);
	TEST_EQ_INT(tts_local.synth(fx.tts, &pcm, &n, "What are your hours?"), 0);
	TEST_EQ_INT(telephone_band(&tel, &tn, pcm, n), 0);
	TEST_ASSERT(tn > n - 400 && tn <= n + 256);
	TEST_EQ_INT(stt_local.transcribe(fx.stt, &text, tel, tn), 0);
	printf("# telephone band: heard \"%s\"\n", text);
	TEST_ASSERT(provider_phrase_in(text, "what are your"));
out:
	free(text);
	free(pcm);
	free(tel);
	speech_fx_close(&fx);
	return err;
}

/* espeak-ng has one process-wide lock: a session that ends stops waiting
 * for other sessions' sentences, and abandons its own. */
struct synth_job {
	void *tts;
	const char *text;
	int rc;
	atomic_bool done;
};

static void *synth_thread(void *arg)
{
	struct synth_job *j = arg;
	int16_t *pcm = NULL;
	size_t n = 0;
	j->rc = tts_local.synth(j->tts, &pcm, &n, j->text);
	free(pcm);
	atomic_store(&j->done, true);
	return NULL;
}

static int test_tts_interrupt(void)
{
	int err = 0;
	char why[160], *longtext = NULL;
	struct assistant *a = NULL;
	struct provider_env env = { "http://127.0.0.1:1", NULL, true };
	cJSON *j = cJSON_CreateObject();
	struct synth_job busy = { 0 }, queued = { 0 };
	pthread_t tb, tq;
	bool tb_up = false, tq_up = false;
	TEST_EQ_INT(assistant_parse(&a, j, why, sizeof(why)), 0);
	struct provider_args ta = { a->tts_config, a, &env };
	TEST_EQ_INT(tts_local.new(&busy.tts, &ta), 0);
	TEST_EQ_INT(tts_local.new(&queued.tts, &ta), 0);
	/* ~50 s of speech: seconds of synthesis holding the lock */
	static const char line[] =
		"The clinic is open from nine in the morning to five in the evening. ";
	size_t cap = 8192, len = 0;
	longtext = calloc(1, cap);
	TEST_ASSERT(longtext);
	while (len + sizeof(line) < cap) {
		memcpy(longtext + len, line, sizeof(line)); /* with its NUL */
		len += sizeof(line) - 1;
	}
	busy.text = longtext;
	queued.text = "Are you still there?";
	TEST_EQ_INT(pthread_create(&tb, NULL, synth_thread, &busy), 0);
	tb_up = true;
	/* the queued one starts once the long one holds espeak-ng */
	int64_t until = time_mono_ms() + 10000;
	while (!tts_local_busy() && !atomic_load(&busy.done) && time_mono_ms() < until)
		test_nap_ms(1);
	TEST_ASSERT(tts_local_busy());
	TEST_EQ_INT(pthread_create(&tq, NULL, synth_thread, &queued), 0);
	tq_up = true;
	tts_local.interrupt(queued.tts);
	pthread_join(tq, NULL);
	tq_up = false;
	TEST_EQ_INT(queued.rc, ECANCELED);
	TEST_ASSERT(!atomic_load(&busy.done)); /* it did not wait for the long one */
	/* the long one is abandoned mid-synthesis as well */
	tts_local.interrupt(busy.tts);
	pthread_join(tb, NULL);
	tb_up = false;
	TEST_EQ_INT(busy.rc, ECANCELED);
	/* and a later synth on an interrupted context does not start */
	busy.text = "hello";
	synth_thread(&busy);
	TEST_EQ_INT(busy.rc, ECANCELED);
out:
	if (tq_up)
		pthread_join(tq, NULL);
	if (tb_up) {
		tts_local.interrupt(busy.tts);
		pthread_join(tb, NULL);
	}
	if (busy.tts)
		tts_local.free(busy.tts);
	if (queued.tts)
		tts_local.free(queued.tts);
	free(longtext);
	cJSON_Delete(j);
	assistant_free(a);
	return err;
}

static const struct test tests[] = {
	{ "vad_turns_and_barge_in", test_vad_turns_and_barge_in },
	{ "watchdog", test_watchdog },
	{ "fillers", test_fillers },
	{ "modes", test_modes },
	{ "assistant_parse", test_assistant_parse },
	{ "provider_helpers", test_provider_helpers },
	{ "provider_api_key", test_provider_api_key },
	{ "provider_key_withheld_logged", test_provider_key_withheld_logged },
	{ "scripted_responder", test_scripted_responder },
	{ "offline_speech_round_trip", test_offline_speech_round_trip },
	{ "telephone_speech_phrase", test_telephone_speech_phrase },
	{ "tts_interrupt", test_tts_interrupt },
};
TEST_MAIN(tests)
