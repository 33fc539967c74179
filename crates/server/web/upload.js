// Upload (admins, as the API): audio files dropped or chosen, each sent as its own request so
// each has its own progress bar and its own answer — a link to its conversation, or why the
// server refused it. XMLHttpRequest, because fetch cannot report upload progress.

import { detailOf } from './api.js';
import { h, show, title, field, bytes } from './ui.js';

export function render(main) {
  const input = h('input', { type: 'file', multiple: true, accept: 'audio/*,.wav,.mp3,.flac,.ogg,.opus,.m4a' });
  const device = h('input', { name: 'device_name', value: 'upload', autocomplete: 'off' });
  const zone = h('div', { class: 'dropzone', tabindex: '0', role: 'button', 'aria-label': 'Drop audio files here, or press Enter to choose them' },
    h('p', null, h('strong', null, 'Drop audio files here')), h('p', null, 'WAV, MP3, FLAC or Ogg — several at once'));
  const list = h('ul', { class: 'uploads', 'aria-label': 'Uploads', 'aria-live': 'polite' });
  show(main, title('Upload'), zone,
    h('div', { class: 'filters' }, field('Or choose files', input), field('Device name', device, 'the conversations are filed under this device')),
    list);

  let queue = Promise.resolve();
  const take = (files) => {
    for (const file of files) {
      const row = uploadRow(file);
      list.prepend(row.item);
      // One file at a time: the server decodes each, and the first finishes soonest.
      queue = queue.then(() => send(file, device.value.trim() || 'upload', row));
    }
  };
  input.addEventListener('change', () => { take([...input.files]); input.value = ''; });
  zone.addEventListener('click', () => input.click());
  zone.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    take([...e.dataTransfer.files]);
  });
}

function uploadRow(file) {
  const progress = h('progress', { max: '100', value: '0', 'aria-label': `Progress of ${file.name}` });
  const result = h('span', { class: 'result' }, 'waiting');
  const item = h('li', { class: 'card' }, h('div', { class: 'row between' },
    h('strong', null, file.name), h('span', { class: 'meta' }, bytes(file.size))), progress, result);
  return { item, progress, result };
}

function send(file, deviceName, { item, progress, result }) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append('files', file, file.name);
    form.append('device_name', deviceName);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/audio/upload');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
      result.textContent = e.loaded < e.total ? 'uploading…' : 'decoding…';
    };
    const done = (ok, ...what) => {
      item.classList.add(ok ? 'ok' : 'bad');
      show(result, what);
      resolve();
    };
    xhr.onload = () => {
      progress.value = 100;
      if (xhr.status === 401) window.dispatchEvent(new Event('chronicle:signed-out'));
      const body = xhr.response;
      const answer = body?.files?.[0];
      if (answer?.conversation_id) {
        done(true, 'Uploaded: ', h('a', { href: `#/conversations/${encodeURIComponent(answer.conversation_id)}` }, 'open its conversation'),
          answer.duration_seconds != null ? ` (${answer.duration_seconds.toFixed(1)} s of audio)` : '');
      } else {
        done(false, 'Refused: ', answer?.error || detailOf(xhr.status, body));
      }
    };
    xhr.onerror = () => done(false, 'Failed: the server cannot be reached');
    xhr.send(form);
  });
}
