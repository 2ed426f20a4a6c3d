/*
 * The offline providers: pocketsphinx (en-us) speech recognition, espeak-ng
 * synthesis and a scripted responder standing in for an LLM.
 *
 * stt_config: {"provider":"local", "model_dir":"/usr/share/pocketsphinx/model/en-us",
 *              "grammar":true, "vocabulary":["word",…]}
 *   With grammar (the default) recognition is restricted to a loop over
 *   the words the assistant cares about — the script's match phrases, the
 *   end-call phrases, `vocabulary` and a small base list — with each phrase
 *   of several words also one whole alternative (boosted over look-alike
 *   word strings); far more robust on telephone and synthetic speech than
 *   the generic language model (used with "grammar":false). The assistant's
 *   words weigh more than the base list, its phrases most.
 * llm_config: {"provider":"local", "script":[{"match":"hours","reply":"…",
 *              "delay_ms":0}], "default":"…"}
 *   The first rule whose match phrase occurs in the caller's words wins;
 *   delay_ms simulates a slow model (so fillers can be exercised offline).
 *   An opening request (last message from "system") is answered with its text.
 * tts_config: {"provider":"local", "voice":"en-us", "rate":175}
 *
 * espeak-ng keeps process-wide state and is not thread-safe: it is
 * initialised once and every synthesis holds one process-wide lock — the one
 * piece of global state here, forced by the library.
 */
#include "provider.h"
#include "agent_room.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <espeak-ng/speak_lib.h>
#include <jsgf.h>
#include <pocketsphinx.h>

/* ---- STT: pocketsphinx ---------------------------------------------------- */

#define PS_MODEL_DIR "/usr/share/pocketsphinx/model/en-us"
#define GRAMMAR_MAX  16384
#define STT_TEXT_MAX 2048
/* Grammar weights: the assistant's own words and phrases over the base
 * list, a whole phrase most (telephone audio otherwise turns "what are
 * your" into "want i your" now and then). */
#define WEIGHT_BASE   1
#define WEIGHT_WORD   4
#define WEIGHT_PHRASE 64

static const char *const base_words[] = {
	"yes", "no", "hello", "hi", "thanks", "thank", "you", "okay", "what", "when", "where",
	"how", "is", "are", "your", "the", "a", "i", "to", "do", "can", "please", "bye",
	"goodbye", "open", "time", "want", "need", "help", "me", "my", "it", "and", "of", "would",
	"like", "an", "that", "this", "good", "great", "sure", "right", "no", NULL,
};

struct stt_local {
	ps_decoder_t *ps;
};

/* The grammar's alternatives, each stored as "| alt " (the first '|' is
 * dropped when the rule is written). */
struct vocab {
	char buf[GRAMMAR_MAX];
	size_t len;
	int alts;
	ps_decoder_t *ps;
};

static bool vocab_has(const struct vocab *v, const char *alt)
{
	char pat[520];
	int k = snprintf(pat, sizeof(pat), "/ %s ", alt);
	if (k < 0 || (size_t)k >= sizeof(pat))
		return false;
	for (const char *p = strstr(v->buf, pat); p; p = strstr(p + 1, pat))
		if (p[k] == '|' || p[k] == '\0')
			return true;
	return false;
}

static void vocab_add_alt(struct vocab *v, const char *alt, int weight)
{
	if (!*alt || vocab_has(v, alt))
		return;
	int k = snprintf(v->buf + v->len, sizeof(v->buf) - v->len, "| /%d/ %s ", weight, alt);
	if (k < 0 || (size_t)k >= sizeof(v->buf) - v->len) {
		v->buf[v->len] = '\0';
		return;
	}
	v->len += (size_t)k;
	v->alts++;
}

static bool in_dictionary(ps_decoder_t *ps, const char *word)
{
	char *pron = ps_lookup_word(ps, word);
	bool known = pron != NULL;
	ckd_free(pron);
	return known;
}

static void vocab_add_word(struct vocab *v, const char *word)
{
	if (strlen(word) < 64 && in_dictionary(v->ps, word))
		vocab_add_alt(v, word, WEIGHT_BASE);
}

/* Every known word of the phrase is an alternative; a phrase of several
 * words, all known, is one more — a whole phrase costs the loop one step
 * instead of one per word, which is how an expected phrase is boosted over
 * a string of short words that sound like it ("what how your" for "what
 * are your" on telephone audio). */
static void vocab_add_phrase(struct vocab *v, const char *phrase)
{
	char norm[512], whole[512];
	provider_normalize(norm, sizeof(norm), phrase);
	snprintf(whole, sizeof(whole), "%s", norm);
	bool all_known = true, several = false;
	char *p = norm;
	for (int guard = 0; *p && guard < 256; guard++) {
		char *sp = strchr(p, ' ');
		if (sp) {
			*sp = '\0';
			several = true;
		}
		if (strlen(p) < 64 && in_dictionary(v->ps, p))
			vocab_add_alt(v, p, WEIGHT_WORD);
		else
			all_known = false;
		if (!sp)
			break;
		p = sp + 1;
	}
	if (several && all_known)
		vocab_add_alt(v, whole, WEIGHT_PHRASE);
}

static void vocab_add_array(struct vocab *v, const cJSON *arr, const char *field)
{
	const cJSON *it;
	if (!cJSON_IsArray(arr))
		return;
	cJSON_ArrayForEach(it, arr) {
		if (cJSON_IsString(it)) {
			vocab_add_phrase(v, it->valuestring);
		} else if (field && cJSON_IsObject(it)) {
			const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, field);
			if (cJSON_IsString(m))
				vocab_add_phrase(v, m->valuestring);
		}
	}
}

/* A loop over the alternatives ("a | b c | …") as the decoder's search:
 * what ps_set_jsgf_string() does, without its leak of the parsed grammar
 * (pocketsphinx 5prealpha never frees it). */
static int set_grammar(ps_decoder_t *ps, const char *alts)
{
	char *text = NULL;
	if (asprintf(&text, "#JSGF V1.0;\ngrammar callmesh;\npublic <s> = (%s)+;\n", alts) < 0)
		return -1;
	jsgf_t *jsgf = jsgf_parse_string(text, NULL);
	free(text);
	if (!jsgf)
		return -1;
	int rc = -1;
	jsgf_rule_t *rule = jsgf_get_public_rule(jsgf);
	fsg_model_t *fsg =
		rule ? jsgf_build_fsg(jsgf, rule, ps_get_logmath(ps),
				      (float32)cmd_ln_float32_r(ps_get_config(ps), "-lw"))
		     : NULL;
	if (fsg) {
		rc = ps_set_fsg(ps, "callmesh", fsg);
		fsg_model_free(fsg);
	}
	jsgf_grammar_free(jsgf);
	return rc;
}

/* pocketsphinx's log destination is process-wide: decoders are created one
 * at a time. */
static pthread_mutex_t ps_init_mu = PTHREAD_MUTEX_INITIALIZER;

static int stt_local_new(void **ctxp, const struct provider_args *args)
{
	int err = 0;
	char hmm[512], dict[512];
	const cJSON *dir = cJSON_GetObjectItemCaseSensitive(args->cfg, "model_dir");
	const char *model = cJSON_IsString(dir) ? dir->valuestring : PS_MODEL_DIR;
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(args->cfg, "grammar");
	bool grammar = !cJSON_IsFalse(g);
	struct vocab *v = NULL;
	struct stt_local *s = calloc(1, sizeof(*s));
	if (!s)
		return ENOMEM;
	snprintf(hmm, sizeof(hmm), "%s/en-us", model);
	snprintf(dict, sizeof(dict), "%s/cmudict-en-us.dict", model);
	cmd_ln_t *cfg;
	pthread_mutex_lock(&ps_init_mu);
	if (grammar) {
		cfg = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", hmm, "-dict", dict,
				  "-logfn", "/dev/null", "-samprate", "16000", NULL);
	} else {
		char lm[512];
		snprintf(lm, sizeof(lm), "%s/en-us.lm.bin", model);
		cfg = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", hmm, "-dict", dict, "-lm", lm,
				  "-logfn", "/dev/null", "-samprate", "16000", NULL);
	}
	if (cfg)
		s->ps = ps_init(cfg);
	pthread_mutex_unlock(&ps_init_mu);
	if (!cfg || !s->ps) {
		if (cfg)
			cmd_ln_free_r(cfg);
		log_error("stt_local_open", "pocketsphinx: cannot load the model in %s", model);
		err = EIO;
		goto out;
	}
	cmd_ln_free_r(cfg); /* the decoder holds its own reference */
	if (grammar) {
		v = calloc(1, sizeof(*v));
		if (!v) {
			err = ENOMEM;
			goto out;
		}
		v->ps = s->ps;
		vocab_add_array(
			v, cJSON_GetObjectItemCaseSensitive(args->assistant->llm_config, "script"),
			"match");
		for (int i = 0; i < args->assistant->nend_call_phrases; i++)
			vocab_add_phrase(v, args->assistant->end_call_phrases[i]);
		vocab_add_array(v, cJSON_GetObjectItemCaseSensitive(args->cfg, "vocabulary"), NULL);
		for (int i = 0; base_words[i]; i++)
			vocab_add_word(v, base_words[i]);
		if (v->alts == 0 || set_grammar(s->ps, v->buf + 1) != 0 ||
		    ps_set_search(s->ps, "callmesh") != 0) {
			log_error("stt_local_open", "pocketsphinx: cannot build the grammar");
			err = EIO;
			goto out;
		}
	}
	*ctxp = s;
	s = NULL;
out:
	free(v);
	if (s) {
		if (s->ps)
			ps_free(s->ps);
		free(s);
	}
	return err;
}

static int stt_local_transcribe(void *ctx, char **textp, const int16_t *pcm, size_t n)
{
	struct stt_local *s = ctx;
	int32 score = 0;
	if (ps_start_utt(s->ps) < 0)
		return EIO;
	if (ps_process_raw(s->ps, pcm, n, FALSE, TRUE) < 0) {
		ps_end_utt(s->ps);
		return EIO;
	}
	if (ps_end_utt(s->ps) < 0)
		return EIO;
	const char *hyp = ps_get_hyp(s->ps, &score);
	*textp = strndup(hyp ? hyp : "", STT_TEXT_MAX);
	return *textp ? 0 : ENOMEM;
}

static void stt_local_free(void *ctx)
{
	struct stt_local *s = ctx;
	if (!s)
		return;
	ps_free(s->ps);
	free(s);
}

const struct stt_provider stt_local = {
	"local", stt_local_new, stt_local_transcribe, stt_local_free,
};

/* ---- LLM: the scripted responder -------------------------------------------- */

#define DELAY_MAX_MS 30000

struct llm_local {
	const cJSON *script;      /* borrowed from the assistant (outlives the context) */
	const char *fallback;
};

static int llm_local_new(void **ctxp, const struct provider_args *args)
{
	struct llm_local *l = calloc(1, sizeof(*l));
	if (!l)
		return ENOMEM;
	l->script = cJSON_GetObjectItemCaseSensitive(args->cfg, "script");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(args->cfg, "default");
	l->fallback = cJSON_IsString(d) ? d->valuestring
		: "Sorry, I did not catch that. Could you say it another way?";
	*ctxp = l;
	return 0;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Feeds `text` sentence by sentence into h. */
static int speak_sentences(const char *text, llm_sentence_h *h, void *arg)
{
	size_t len = strlen(text), off = 0;
	char buf[1024];
	for (int guard = 0; off < len && guard < 256; guard++) {
		size_t n = provider_sentence_len(text + off, len - off);
		if (!n)
			n = len - off;
		size_t k = n < sizeof(buf) - 1 ? n : sizeof(buf) - 1;
		memcpy(buf, text + off, k);
		buf[k] = '\0';
		off += n;
		while (off < len && (text[off] == ' ' || text[off] == '\n'))
			off++;
		if (h(buf, arg))
			break;
	}
	return 0;
}

static int llm_local_reply(void *ctx, const struct llm_msg *msgs, size_t n, llm_sentence_h *h,
			   void *arg)
{
	struct llm_local *l = ctx;
	if (!n)
		return EINVAL;
	const struct llm_msg *last = &msgs[n - 1];
	if (strcmp(last->role, "system") == 0)
		return speak_sentences(last->text, h, arg);
	const cJSON *rule;
	const cJSON *script = cJSON_IsArray(l->script) ? l->script : NULL;
	cJSON_ArrayForEach(rule, script) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(rule, "match");
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(rule, "reply");
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(rule, "delay_ms");
		if (!cJSON_IsString(m) || !cJSON_IsString(r) ||
		    !provider_phrase_in(last->text, m->valuestring))
			continue;
		if (cJSON_IsNumber(d) && d->valuedouble > 0)
			nap_ms(d->valuedouble > DELAY_MAX_MS ? DELAY_MAX_MS : (long)d->valuedouble);
		return speak_sentences(r->valuestring, h, arg);
	}
	return speak_sentences(l->fallback, h, arg);
}

static void llm_local_free(void *ctx)
{
	free(ctx);
}

const struct llm_provider llm_local = {
	"local", llm_local_new, llm_local_reply, llm_local_free,
};

/* ---- TTS: espeak-ng ----------------------------------------------------------- */

#define TTS_MAX_SAMPLES (22050 * 60)
#define ESPEAK_WAIT_MS  20 /* how often a waiting synth checks stop */

static pthread_once_t espeak_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t espeak_mu = PTHREAD_MUTEX_INITIALIZER;
static int espeak_rate; /* the library's output rate; 0 when it failed to start */
static atomic_bool espeak_busy;  /* espeak_mu is held by a synthesis */

bool tts_local_busy(void)
{
	return atomic_load(&espeak_busy);
}

struct pcm_buf {
	int16_t *pcm;
	size_t n, cap;
	bool full;
	atomic_bool *stop;      /* the session is ending: abandon the synthesis */
};

static int espeak_cb(short *wav, int nsamples, espeak_EVENT *events)
{
	struct pcm_buf *b = events ? events[0].user_data : NULL;
	if (b && atomic_load(b->stop))
		return 1;
	if (!b || !wav || nsamples <= 0)
		return 0;
	if (b->n + (size_t)nsamples > TTS_MAX_SAMPLES) {
		b->full = true;
		return 1;
	}
	if (b->n + (size_t)nsamples > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16384;
		while (cap < b->n + (size_t)nsamples)
			cap *= 2;
		int16_t *p = realloc(b->pcm, cap * sizeof(*p));
		if (!p) {
			b->full = true;
			return 1;
		}
		b->pcm = p;
		b->cap = cap;
	}
	memcpy(b->pcm + b->n, wav, (size_t)nsamples * sizeof(int16_t));
	b->n += (size_t)nsamples;
	return 0;
}

static void espeak_start(void)
{
	int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, 0);
	if (rate <= 0) {
		log_error("tts_local", "espeak-ng failed to initialise");
		return;
	}
	espeak_SetSynthCallback(espeak_cb);
	espeak_rate = rate;
}

struct tts_local {
	char voice[64];
	int rate;
	atomic_bool stop;
};

static int tts_local_new(void **ctxp, const struct provider_args *args)
{
	pthread_once(&espeak_once, espeak_start);
	if (!espeak_rate)
		return EIO;
	struct tts_local *t = calloc(1, sizeof(*t));
	if (!t)
		return ENOMEM;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args->cfg, "voice");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(args->cfg, "rate");
	snprintf(t->voice, sizeof(t->voice), "%s", cJSON_IsString(v) ? v->valuestring : "en-us");
	t->rate = cJSON_IsNumber(r) && r->valuedouble >= 80 && r->valuedouble <= 450
			  ? (int)r->valuedouble
			  : 175;
	*ctxp = t;
	return 0;
}

static int tts_local_synth(void *ctx, int16_t **pcmp, size_t *np, const char *text)
{
	struct tts_local *t = ctx;
	struct pcm_buf b = { .stop = &t->stop };
	int err = 0;
	/* the lock is shared by every session of the process: an ending
	 * session stops waiting for the others' sentences */
	for (;;) {
		if (atomic_load(&t->stop))
			return ECANCELED;
		struct timespec until;
		time_deadline(&until, CLOCK_REALTIME, ESPEAK_WAIT_MS);
		int rc = pthread_mutex_timedlock(&espeak_mu, &until);
		if (rc == 0)
			break;
		if (rc != ETIMEDOUT)
			return rc;
	}
	atomic_store(&espeak_busy, true);
	if (espeak_SetVoiceByName(t->voice) != EE_OK ||
	    espeak_SetParameter(espeakRATE, t->rate, 0) != EE_OK ||
	    espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, &b) !=
		    EE_OK ||
	    espeak_Synchronize() != EE_OK)
		err = EIO;
	atomic_store(&espeak_busy, false);
	pthread_mutex_unlock(&espeak_mu);
	if (atomic_load(&t->stop)) {
		free(b.pcm);
		return ECANCELED;
	}
	if (!err && b.full)
		log_warn("tts_local", "utterance cut at %d s", TTS_MAX_SAMPLES / 22050);
	if (!err)
		err = provider_resample(pcmp, np, b.pcm, b.n, espeak_rate, AGENT_RATE);
	free(b.pcm);
	return err;
}

static void tts_local_free(void *ctx)
{
	free(ctx);
}

static void tts_local_interrupt(void *ctx)
{
	struct tts_local *t = ctx;
	atomic_store(&t->stop, true);
}

const struct tts_provider tts_local = {
	"local", tts_local_new, tts_local_synth, tts_local_free, tts_local_interrupt,
};
